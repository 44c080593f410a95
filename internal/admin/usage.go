package admin

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	"github.com/vendorgate/vendorgate/internal/money"
)

// defaultServices are the services' REST faces at their default addresses.
const defaultServices = "delivery=http://127.0.0.1:8081,esign=http://127.0.0.1:8082,logistics=http://127.0.0.1:8083,vehicle=http://127.0.0.1:8084"

func usageCmd(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	services := fs.String("services", defaultServices, "comma-separated name=base URL of each service's REST face")
	// Defaults from the environment are applied after parsing, so that -h
	// never prints a key or a database password.
	key := fs.String("key", "", "API key allowed to call GetUsage (default $VENDORGATE_KEY)")
	today := time.Now().UTC().Format(time.DateOnly)
	start := fs.String("start", today, "start of the range (inclusive): a day (UTC midnight) or RFC 3339 time")
	end := fs.String("end", "", "end of the range (exclusive): a day or RFC 3339 time; default the day after start")
	format := fs.String("format", "table", "table or csv")
	if help, err := parseFlags(fs, args, out); help || err != nil {
		return err
	}
	if *key == "" {
		*key = getenv("VENDORGATE_KEY")
	}
	from, err := parseTime("start", *start)
	if err != nil {
		return err
	}
	to := from.Add(24 * time.Hour)
	if *end != "" {
		if to, err = parseTime("end", *end); err != nil {
			return err
		}
	}
	if *format != "table" && *format != "csv" {
		return fmt.Errorf("-format %q: want table or csv", *format)
	}
	var reports []*usagev1.UsageReport
	for _, pair := range strings.Split(*services, ",") {
		name, base, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" || base == "" {
			return fmt.Errorf("-services %q: want name=url pairs", pair)
		}
		r, err := fetch(ctx, name, base, *key, from, to)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	return printReports(out, *format, reports)
}

func parseTime(flagName, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("-%s %q: want 2006-01-02 or an RFC 3339 time", flagName, s)
	}
	return t, nil
}

// fetch calls GET <base>/v1/<name>/usage.
func fetch(ctx context.Context, name, base, key string, from, to time.Time) (*usagev1.UsageReport, error) {
	q := url.Values{"start_time": {from.UTC().Format(time.RFC3339)}, "end_time": {to.UTC().Format(time.RFC3339)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/v1/"+name+"/usage?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		var st struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &st)
		return nil, fmt.Errorf("%s: GetUsage: HTTP %d: %s", name, resp.StatusCode, st.Message)
	}
	var wrapper struct {
		Report json.RawMessage `json:"report"`
	}
	if err := json.Unmarshal(body, &wrapper); err != nil || len(wrapper.Report) == 0 {
		return nil, fmt.Errorf("%s: GetUsage answer has no report: %v", name, err)
	}
	r := &usagev1.UsageReport{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(wrapper.Report, r); err != nil {
		return nil, fmt.Errorf("%s: decode GetUsage: %w", name, err)
	}
	if r.GetService() == "" {
		r.Service = name
	}
	return r, nil
}

func printReports(out io.Writer, format string, reports []*usagev1.UsageReport) error {
	type line struct {
		service string
		row     *usagev1.UsageRow
	}
	var lines []line
	var calls, fen int64
	for _, r := range reports {
		for _, row := range r.GetRows() {
			lines = append(lines, line{r.GetService(), row})
			calls += row.GetCalls()
			f, err := money.ParseYuan(row.GetCostYuan())
			if err != nil {
				return fmt.Errorf("%s: cost %q: %w", r.GetService(), row.GetCostYuan(), err)
			}
			fen += f
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].row.GetDay() < lines[j].row.GetDay() })
	header := []string{"day", "service", "caller", "vendor", "endpoint", "calls", "failures", "cost_yuan", "unknown_calls", "unknown_cost_yuan"}
	record := func(l line) []string {
		return []string{l.row.GetDay(), l.service, l.row.GetCaller(), l.row.GetVendor(), l.row.GetEndpoint(),
			fmt.Sprint(l.row.GetCalls()), fmt.Sprint(l.row.GetFailures()), l.row.GetCostYuan(),
			fmt.Sprint(l.row.GetUnknownCalls()), cmp.Or(l.row.GetUnknownCostYuan(), "0.00")}
	}
	if format == "csv" {
		w := csv.NewWriter(out)
		_ = w.Write(header)
		for _, l := range lines {
			_ = w.Write(record(l))
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(record(l), "\t"))
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t\t%d\t\t%s\t\t\n", calls, money.Yuan(fen))
	return tw.Flush()
}
