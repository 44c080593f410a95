package deploycheck

import (
	"context"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeFile is the compose file, at the repository root.
const composeFile = "docker-compose.yml"

// envTemplate is the env file for real vendors that docker-compose.yml and
// docs/deployment.md name: copied out of git, filled in, passed with
// --env-file.
const envTemplate = "deploy/deploy.env.example"

// composeRuns are the ways the documentation starts compose: every
// profile, with no env file (the sandbox) and with the real-vendor
// template.
var composeRuns = func() []composeRun {
	var runs []composeRun
	for _, profile := range []string{"", "postgres", "replicas"} {
		for _, envFile := range []string{"", envTemplate} {
			runs = append(runs, composeRun{profile: profile, envFile: envFile})
		}
	}
	return runs
}()

// composeRun is one docker compose command line.
type composeRun struct {
	profile string // "" is the default: no --profile
	envFile string // "" is none: no --env-file
}

func (r composeRun) String() string {
	s := "docker compose"
	if r.envFile != "" {
		s += " --env-file " + r.envFile
	}
	if r.profile != "" {
		s += " --profile " + r.profile
	}
	return s + " up"
}

// loadCompose loads docker-compose.yml with compose-go, the loader Compose
// itself uses: the whole file interpolated, then profiles applied, merge
// keys resolved and the model validated against the compose schema. The
// environment is env and the env file only, never the test's own, so that
// the answer does not depend on the machine.
func loadCompose(root string, r composeRun, env map[string]string) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithName("vendorgate"),
		cli.WithWorkingDirectory(root),
		cli.WithEnv(envList(env)),
	}
	if r.profile != "" {
		opts = append(opts, cli.WithProfiles([]string{r.profile}))
	}
	if r.envFile != "" {
		// Never the default .env: a developer's own would change the answer.
		opts = append(opts, cli.WithEnvFiles(filepath.Join(root, r.envFile)), cli.WithDotEnv)
	}
	o, err := cli.NewProjectOptions([]string{filepath.Join(root, composeFile)}, opts...)
	if err != nil {
		return nil, err
	}
	return o.LoadProject(context.Background())
}

func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// mustLoadCompose loads the compose file for r, failing the test with
// the loader's error (what docker compose would print).
func mustLoadCompose(t *testing.T, root string, r composeRun) *types.Project {
	t.Helper()
	p, err := loadCompose(root, r, nil)
	if err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	return p
}

// environment returns a service's environment; a name without a value
// maps to "".
func environment(svc types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range svc.Environment {
		if v != nil {
			env[k] = *v
		} else {
			env[k] = ""
		}
	}
	return env
}

// replicasSuffix names the compose service that runs two replicas of a
// service behind the shared Postgres.
const replicasSuffix = "-replicas"

// longestWait is the longest call a service waits for: a vehicle lookup
// waits up to 60 s for its report.
const longestWait = 60 * time.Second

// TestComposeLoads: every documented command line loads (Compose
// interpolates the whole file before it applies profiles, so a required
// ${VAR:?} of a profiled service would break the default "docker compose
// up"), runs the services the profile promises, and each of them passes
// the checks of a service that can run unattended.
func TestComposeLoads(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	names := serviceNames(t, root)
	for _, r := range composeRuns {
		t.Run(r.String(), func(t *testing.T) {
			t.Parallel()
			p := mustLoadCompose(t, root, r)

			want := slices.Clone(names)
			switch r.profile {
			case "postgres":
				want = append(want, "postgres")
			case "replicas":
				want = append(want, "postgres")
				for _, n := range names {
					want = append(want, n+replicasSuffix)
				}
			}
			slices.Sort(want)
			if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, want) {
				t.Errorf("services: got %q, want %q", got, want)
			}

			for name, svc := range p.Services {
				checkRestartAndGrace(t, name, svc)
				checkHealthcheck(t, name, svc)
				for _, port := range svc.Ports {
					if port.HostIP != "127.0.0.1" {
						t.Errorf("%s port %d: got host IP %q, want 127.0.0.1 (publish further behind a TLS proxy)", name, port.Target, port.HostIP)
					}
				}
				service := strings.TrimSuffix(name, replicasSuffix)
				if !slices.Contains(names, service) {
					if len(svc.Profiles) == 0 {
						t.Errorf("%s: got no profiles, want every service that is not ours behind one", name)
					}
					continue
				}
				checkOurService(t, root, r, name, service, svc)
			}
			if r.profile == "replicas" {
				checkReplicas(t, p, names)
			}
			if pg, ok := p.Services["postgres"]; ok && !strings.HasPrefix(pg.Image, "postgres:") {
				t.Errorf("postgres image: got %q, want postgres:<version>", pg.Image)
			}
		})
	}
}

// checkOurService checks one compose service that runs services/<service>.
func checkOurService(t *testing.T, root string, r composeRun, name, service string, svc types.ServiceConfig) {
	t.Helper()
	if svc.Build == nil {
		t.Errorf("%s: got no build, want services/%s/Dockerfile built", name, service)
	} else if want := "services/" + service + "/Dockerfile"; svc.Build.Dockerfile != want || svc.Build.Context != root {
		t.Errorf("%s build: got context %q dockerfile %q, want the repository root and %s", name, svc.Build.Context, svc.Build.Dockerfile, want)
	}
	env := environment(svc)
	vars, err := configVars(root, service)
	if err != nil {
		t.Fatal(err)
	}
	for k := range env {
		if !vars[k] {
			t.Errorf("%s environment: got %s, want only variables with env:\"...\" tags in services/%s/internal/config or SANDBOX", name, k, service)
		}
	}
	wantSandbox := "1"
	if r.envFile != "" {
		wantSandbox = "0"
	}
	if got, ok := env["SANDBOX"]; !ok || got != wantSandbox {
		t.Errorf("%s SANDBOX: got %q (set: %t), want %q", name, got, ok, wantSandbox)
	}
	if len(svc.Ports) == 0 {
		t.Fatalf("%s: got no port mappings, want the API port first", name)
	}
	port := strconv.Itoa(int(svc.Ports[0].Target))
	addrVar := strings.ToUpper(service) + "_ADDR"
	host, p, err := net.SplitHostPort(env[addrVar])
	if err != nil || host != "0.0.0.0" || p != port {
		t.Errorf("%s %s: got %q, want 0.0.0.0:%s (the API port, published first)", name, addrVar, env[addrVar], port)
	}
	grace, err := time.ParseDuration(env["SHUTDOWN_TIMEOUT"])
	if err != nil || grace <= longestWait || svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) <= grace {
		t.Errorf("%s SHUTDOWN_TIMEOUT: got %q, want longer than %s and shorter than stop_grace_period", name, env["SHUTDOWN_TIMEOUT"], longestWait)
	}
	if r.envFile != "" {
		for _, v := range requiredVars(t, root, service) {
			if _, ok := env[v]; !ok {
				t.Errorf("%s environment: got no %s, want it passed from the env file (the service refuses to start without it)", name, v)
			}
		}
	}
}

// checkRestartAndGrace wants a compose service restarted unless stopped by
// hand, and given longer than longestWait to stop.
func checkRestartAndGrace(t *testing.T, name string, svc types.ServiceConfig) {
	t.Helper()
	if svc.Restart != "unless-stopped" {
		t.Errorf("%s restart: got %q, want unless-stopped", name, svc.Restart)
	}
	if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) <= longestWait {
		t.Errorf("%s stop_grace_period: got %v, want longer than %s", name, svc.StopGracePeriod, longestWait)
	}
}

// checkHealthcheck wants a health check with a start period (the first
// start migrates and warms up).
func checkHealthcheck(t *testing.T, name string, svc types.ServiceConfig) {
	t.Helper()
	h := svc.HealthCheck
	if h == nil || h.Disable || len(h.Test) < 2 || h.Test[0] == "NONE" {
		t.Errorf("%s healthcheck: got none, want a test command", name)
		return
	}
	if h.StartPeriod == nil || *h.StartPeriod <= 0 {
		t.Errorf("%s healthcheck start_period: got %v, want a duration", name, h.StartPeriod)
	}
}

// checkReplicas: the "replicas" profile runs two replicas of every service
// with the single process's settings, except the database, which is the
// compose postgres service (healthy first), and the published ports, a
// loopback range with one port per replica for every port the single
// process publishes.
func checkReplicas(t *testing.T, p *types.Project, names []string) {
	t.Helper()
	for _, name := range names {
		single := p.Services[name]
		rname := name + replicasSuffix
		r, ok := p.Services[rname]
		if !ok {
			continue // reported by the list of services
		}
		if !slices.Equal(r.Profiles, []string{"replicas"}) {
			t.Errorf("%s profiles: got %q, want [replicas]", rname, r.Profiles)
		}
		if r.Deploy == nil || r.Deploy.Replicas == nil || *r.Deploy.Replicas != 2 {
			t.Errorf("%s deploy.replicas: got %+v, want 2", rname, r.Deploy)
			continue
		}
		if dep, ok := r.DependsOn["postgres"]; !ok || dep.Condition != "service_healthy" {
			t.Errorf("%s depends_on postgres: got %+v (set: %t), want condition service_healthy", rname, dep, ok)
		}
		dbVar := strings.ToUpper(name) + "_DATABASE_URL"
		renv, senv := environment(r), environment(single)
		if url := renv[dbVar]; !strings.HasPrefix(url, "postgres://") || !strings.Contains(url, "@postgres:5432/") {
			t.Errorf("%s %s: got %q, want postgres://…@postgres:5432/… (the shared store)", rname, dbVar, url)
		}
		for k, v := range senv {
			if k != dbVar && renv[k] != v {
				t.Errorf("%s %s: got %q, want %q as in %s", rname, k, renv[k], v, name)
			}
		}
		if len(renv) != len(senv) {
			t.Errorf("%s environment: got %d variables, want the %d of %s", rname, len(renv), len(senv), name)
		}
		if len(r.Ports) != len(single.Ports) {
			t.Errorf("%s ports: got %d, want %d as in %s", rname, len(r.Ports), len(single.Ports), name)
			continue
		}
		for i, port := range r.Ports {
			lo, hi, _ := strings.Cut(port.Published, "-")
			l, errL := strconv.Atoi(lo)
			h, errH := strconv.Atoi(hi)
			if port.HostIP != "127.0.0.1" || errL != nil || errH != nil || h-l+1 != *r.Deploy.Replicas || port.Target != single.Ports[i].Target {
				t.Errorf("%s port %d: got %s:%s:%d, want 127.0.0.1:<a>-<a+1>:%d", rname, i, port.HostIP, port.Published, port.Target, single.Ports[i].Target)
			}
		}
		if r.HealthCheck == nil || single.HealthCheck == nil || !slices.Equal(r.HealthCheck.Test, single.HealthCheck.Test) {
			t.Errorf("%s healthcheck: want the one of %s", rname, name)
		}
	}
}

// requireCall matches the envconfig.Require call of a service's config,
// the credentials it refuses to start without outside the sandbox.
var requireCall = regexp.MustCompile(`(?s)envconfig\.Require\([^{]*\{(.*?)\}\)`)

// quotedVar matches a "NAME": key of that call.
var quotedVar = regexp.MustCompile(`"([A-Z][A-Z0-9_]*)"\s*:`)

// requiredVars returns the variables services/<name>/internal/config
// requires outside the sandbox.
func requiredVars(t *testing.T, root, name string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "services", name, "internal", "config", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range requireCall.FindAllStringSubmatch(string(src), -1) {
			for _, m := range quotedVar.FindAllStringSubmatch(call[1], -1) {
				vars = append(vars, m[1])
			}
		}
	}
	if len(vars) == 0 {
		t.Fatalf("services/%s/internal/config: got no envconfig.Require(…) variables, want the vendor credentials it needs outside the sandbox", name)
	}
	slices.Sort(vars)
	return vars
}

// TestComposeEnvTemplate: the real-vendor env file names every credential
// any service refuses to start without (the five vendors'), and every
// variable it names reaches a container: --env-file only feeds the
// compose file's ${…}, so a name the compose file does not use would be
// silently dropped.
func TestComposeEnvTemplate(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	tmpl, err := dotenv.GetEnvFromFile(map[string]string{}, []string{filepath.Join(root, envTemplate)})
	if err != nil {
		t.Fatalf("%s: %v", envTemplate, err)
	}
	for _, name := range serviceNames(t, root) {
		for _, v := range requiredVars(t, root, name) {
			if _, ok := tmpl[v]; !ok {
				t.Errorf("%s: got no %s, want every credential services/%s requires outside the sandbox", envTemplate, v, name)
			}
		}
	}
	if tmpl["SANDBOX"] != "0" {
		t.Errorf("%s SANDBOX: got %q, want 0 (real vendors)", envTemplate, tmpl["SANDBOX"])
	}

	// Every variable of the template, set to a value of its own, must show
	// up in some container of the run that starts them all.
	sentinels := map[string]string{}
	for k := range tmpl {
		sentinels[k] = "sentinel" + k
	}
	p, err := loadCompose(root, composeRun{profile: "replicas"}, sentinels)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, svc := range p.Services {
		for _, v := range environment(svc) {
			values = append(values, v)
		}
	}
	for k, s := range sentinels {
		if !slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, s) }) {
			t.Errorf("%s %s: got it in no container's environment, want docker-compose.yml to pass it (${%s:-…})", envTemplate, k, k)
		}
	}
}

// TestComposeRequiredVariableStopsDefault shows why the compose file has
// no ${VAR:?…}: the same file with the postgres password required (as it
// once was) no longer loads for a plain "docker compose up", although
// postgres sits behind a profile.
func TestComposeRequiredVariableStopsDefault(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, composeFile))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`\$\{[A-Za-z0-9_]+:?\?[^}]*\}`).FindString(string(data)); m != "" {
		t.Errorf("%s: got %s, want no required variable: Compose interpolates the whole file before it applies profiles", composeFile, m)
	}
	required := strings.ReplaceAll(string(data), "${POSTGRES_PASSWORD:-}", "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in the env file}")
	if required == string(data) {
		t.Fatalf("%s: got no ${POSTGRES_PASSWORD:-}, want the postgres password optional", composeFile)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, composeFile), []byte(required), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = loadCompose(dir, composeRun{}, nil)
	if err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("docker compose up with a required POSTGRES_PASSWORD: got error %v, want one naming POSTGRES_PASSWORD", err)
	}
}
