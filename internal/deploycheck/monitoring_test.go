package deploycheck

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

const (
	alertsFile    = "deploy/prometheus/alerts.yaml"
	dashboardFile = "deploy/grafana/vendorgate.json"
)

// prometheusMade are series Prometheus writes itself for every target, which
// no service exports.
var prometheusMade = map[string]bool{"up": true}

// severities are the alert severities the rule file's header defines.
var severities = []string{"page", "ticket"}

// promExpr is one PromQL expression of a deployment file.
type promExpr struct {
	where string // file and rule or panel
	expr  string
}

func promQL() parser.Parser { return parser.NewParser(parser.Options{}) }

// alertRules parses the rule file with Prometheus' own rule loader (which
// parses every expression) and returns its expressions and the series its
// recording rules write.
func alertRules(t *testing.T, root string) (exprs []promExpr, recorded map[string]bool) {
	t.Helper()
	groups, errs := rulefmt.ParseFile(filepath.Join(root, alertsFile), false, model.UTF8Validation, promQL(), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	recorded = map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := fmt.Sprintf("%s group %s rule %s%s", alertsFile, g.Name, r.Alert, r.Record)
			exprs = append(exprs, promExpr{where: where, expr: r.Expr})
			if r.Record != "" {
				recorded[r.Record] = true
				continue
			}
			if !slices.Contains(severities, r.Labels["severity"]) {
				t.Errorf("%s severity: got %q, want one of %q", where, r.Labels["severity"], severities)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: got no summary annotation, want what an operator reads in the page", where)
			}
		}
	}
	if len(exprs) == 0 {
		t.Fatalf("%s: got no rules", alertsFile)
	}
	return exprs, recorded
}

// grafanaVar matches Grafana's interval variables, which stand where
// PromQL wants a duration.
var grafanaVar = regexp.MustCompile(`\$__(rate_interval|interval|range)\b`)

// labelValues matches a Grafana variable query label_values(metric, label).
var labelValues = regexp.MustCompile(`^label_values\(\s*([^,]+),\s*\w+\s*\)$`)

// dashboardExprs returns every PromQL expression of the dashboard: the
// panels' targets and the template variables' queries, with Grafana's
// interval variables replaced by a duration.
func dashboardExprs(t *testing.T, root string) []promExpr {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("%s: got title %q uid %q, want both (imports overwrite by uid)", dashboardFile, dash.Title, dash.UID)
	}
	var exprs []promExpr
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("%s panel %q: got id %d twice, want unique ids", dashboardFile, p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("%s panel %q: got no targets, want a query", dashboardFile, p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, promExpr{where: fmt.Sprintf("%s panel %q", dashboardFile, p.Title), expr: grafanaVar.ReplaceAllString(tg.Expr, "5m")})
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition == "" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("%s variable %s: got query %q, want label_values(metric, label)", dashboardFile, v.Name, v.Definition)
			continue
		}
		exprs = append(exprs, promExpr{where: fmt.Sprintf("%s variable %s", dashboardFile, v.Name), expr: m[1]})
	}
	return exprs
}

// metricNames returns the metric names an expression selects.
func metricNames(e parser.Expr) []string {
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	return names
}

// TestMonitoringNamesExportedMetrics: every expression of the alert rules
// and the dashboard parses as PromQL, and every metric it names is one a
// running service exports (after calls that make the vendor-call series
// exist), one the rule file records, or one Prometheus writes itself.
func TestMonitoringNamesExportedMetrics(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	alerts, recorded := alertRules(t, root)
	exprs := append(alerts, dashboardExprs(t, root)...)

	services := runningServices(t)
	exercise(t, services)
	exported := map[string]string{} // metric → a service exporting it
	for name, s := range services {
		for m := range s.exportedMetrics(t) {
			exported[m] = name
		}
	}
	if exported["vendorgate_vendor_requests_total"] == "" {
		t.Fatalf("running services: got no vendorgate_vendor_requests_total after vendor calls, want it (scraped %d metrics)", len(exported))
	}

	for _, e := range exprs {
		parsed, err := promQL().ParseExpr(e.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", e.where, err, e.expr)
			continue
		}
		for _, name := range metricNames(parsed) {
			if exported[name] == "" && !recorded[name] && !prometheusMade[name] {
				t.Errorf("%s: got metric %s, which no running service exports and no rule records, want a real one", e.where, name)
			}
		}
	}
}

// TestMonitoringCatchesUnknownMetrics shows that the check above reads
// names: an expression with a misspelt metric names it.
func TestMonitoringCatchesUnknownMetrics(t *testing.T) {
	t.Parallel()
	e, err := promQL().ParseExpr(`sum by (vendor) (rate(vendorgate_vendor_request_total{outcome!="ok"}[5m])) / on() group_left {__name__="vendorgate_x"}`)
	if err != nil {
		t.Fatal(err)
	}
	got := metricNames(e)
	if !slices.Contains(got, "vendorgate_vendor_request_total") || !slices.Contains(got, "vendorgate_x") {
		t.Errorf("metricNames: got %q, want both selected names", got)
	}
	if _, err := promQL().ParseExpr("rate(vendorgate_vendor_requests_total[$__rate_interval])"); err == nil {
		t.Error("ParseExpr of a Grafana variable: got no error, want one (variables are replaced before parsing)")
	}
}
