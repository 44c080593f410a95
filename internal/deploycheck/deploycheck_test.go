package deploycheck

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// readmeTestCommand is the test command the README gives and CI runs.
const readmeTestCommand = "go test -race -count=1 ./..."

// repoRoot walks up from the test's working directory to the go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// serviceNames lists the services: the directories services/<name> that
// hold a main.go.
func serviceNames(t *testing.T, root string) []string {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(root, "services", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mains {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	if len(names) == 0 {
		t.Fatal("got no services/*/main.go, want at least one")
	}
	return names
}

// composeFile is the part of docker-compose.yml the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Build           composeBuild       `yaml:"build"`
	Image           string             `yaml:"image"`
	Environment     composeEnvironment `yaml:"environment"`
	Ports           []composePort      `yaml:"ports"`
	Healthcheck     *composeHealth     `yaml:"healthcheck"`
	Restart         string             `yaml:"restart"`
	StopGracePeriod string             `yaml:"stop_grace_period"`
	Profiles        []string           `yaml:"profiles"`
	Deploy          struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// composeBuild is the build section, short (a context path) or long.
type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain composeBuild
	return n.Decode((*plain)(b))
}

// composeEnvironment is the environment section, a mapping or a list of
// NAME=value; a name without a value maps to "".
type composeEnvironment map[string]string

func (e *composeEnvironment) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnvironment{}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			v := n.Content[i+1]
			if n.Content[i].Value == "<<" {
				// A merge key: another service's environment, by alias;
				// the keys written beside it win.
				base := composeEnvironment{}
				if v.Kind == yaml.AliasNode {
					v = v.Alias
				}
				if err := base.UnmarshalYAML(v); err != nil {
					return err
				}
				for k, val := range base {
					if _, set := (*e)[k]; !set {
						(*e)[k] = val
					}
				}
				continue
			}
			if v.Tag == "!!null" {
				(*e)[n.Content[i].Value] = ""
				continue
			}
			(*e)[n.Content[i].Value] = v.Value
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			name, value, _ := strings.Cut(item.Value, "=")
			(*e)[name] = value
		}
	default:
		return fmt.Errorf("line %d: environment is neither a mapping nor a list", n.Line)
	}
	return nil
}

// composePort is one ports entry: "[ip:][published:]target[/protocol]"
// or the long form.
type composePort struct {
	HostIP    string
	Published string
	Target    string
}

func (p *composePort) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			Target    string `yaml:"target"`
			Published string `yaml:"published"`
			HostIP    string `yaml:"host_ip"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		p.Target, p.Published, p.HostIP = long.Target, long.Published, long.HostIP
		return nil
	}
	spec, _, _ := strings.Cut(n.Value, "/")
	parts := strings.Split(spec, ":")
	p.Target = parts[len(parts)-1]
	if len(parts) > 1 {
		p.Published = parts[len(parts)-2]
	}
	if len(parts) > 2 {
		p.HostIP = strings.Join(parts[:len(parts)-2], ":")
	}
	return nil
}

// composeHealth is the healthcheck section; Test is a string or a list.
type composeHealth struct {
	Test        yaml.Node `yaml:"test"`
	Disable     bool      `yaml:"disable"`
	StartPeriod string    `yaml:"start_period"`
}

// command returns the healthcheck test as a list.
func (h *composeHealth) command() []string {
	if h.Test.Kind == yaml.ScalarNode {
		return []string{"CMD-SHELL", h.Test.Value}
	}
	var cmd []string
	for _, c := range h.Test.Content {
		cmd = append(cmd, c.Value)
	}
	return cmd
}

func loadCompose(t *testing.T, root string) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// dockerfile is a Dockerfile split into build stages.
type dockerfile struct {
	stages []stage
}

type stage struct {
	image        string        // the FROM image
	instructions []instruction // after FROM
}

type instruction struct {
	cmd  string // upper-case, e.g. RUN
	args string
}

// final is the stage the image is made of.
func (d dockerfile) final() stage { return d.stages[len(d.stages)-1] }

// args returns the arguments of every cmd instruction in the stage.
func (s stage) args(cmd string) []string {
	var out []string
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// parseDockerfile reads instructions, joining continued lines and dropping
// comments, the way the Docker builder does.
func parseDockerfile(data string) (dockerfile, error) {
	var (
		d       dockerfile
		logical []string
		cur     strings.Builder
	)
	for _, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			var image string
			for _, f := range strings.Fields(in.args) {
				if !strings.HasPrefix(f, "--") {
					image = f
					break
				}
			}
			d.stages = append(d.stages, stage{image: image})
			continue
		}
		if len(d.stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			return d, fmt.Errorf("%s before the first FROM", in.cmd)
		}
		last := &d.stages[len(d.stages)-1]
		last.instructions = append(last.instructions, in)
	}
	if len(d.stages) == 0 {
		return d, errors.New("no FROM")
	}
	return d, nil
}

// envTag matches a caarlos0/env struct tag and captures the variable name.
var envTag = regexp.MustCompile(`env:"([A-Za-z0-9_]+)`)

// envPrefixField matches a config field such as
// `Vendor cloudmarket.Vendor `envPrefix:"DINGDANG_"`: the package and the prefix.
var envPrefixField = regexp.MustCompile(`\s(\w+)\.\w+\s+` + "`" + `envPrefix:"([A-Za-z0-9_]+)"`)

// embeddedConfig matches an untagged config field of a shared package's
// struct type, such as `Access access.Config` or `REST serve.REST`: its
// variables are read without a prefix.
var embeddedConfig = regexp.MustCompile(`(?m)^\s+\w+\s+(\w+)\.[A-Z]\w*\s*(?://.*)?$`)

// nestedTags returns the env tags of the shared package internal/<pkg>,
// and of the shared packages whose config structs it embeds.
func nestedTags(root, pkg string) ([]string, error) {
	return nestedTagsSeen(root, pkg, map[string]bool{})
}

func nestedTagsSeen(root, pkg string, seen map[string]bool) ([]string, error) {
	if seen[pkg] {
		return nil, nil
	}
	seen[pkg] = true
	files, err := filepath.Glob(filepath.Join(root, "internal", pkg, "*.go"))
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range envTag.FindAllStringSubmatch(string(src), -1) {
			tags = append(tags, m[1])
		}
		for _, m := range embeddedConfig.FindAllStringSubmatch(string(src), -1) {
			if _, err := os.Stat(filepath.Join(root, "internal", m[1])); err != nil {
				continue // not one of ours
			}
			more, err := nestedTagsSeen(root, m[1], seen)
			if err != nil {
				return nil, err
			}
			tags = append(tags, more...)
		}
	}
	return tags, nil
}

// composeDefault is the value a compose "${NAME:-default}" takes when NAME
// is not set, or value itself when it is no such expression.
func composeDefault(value string) string {
	if m := regexp.MustCompile(`^\$\{[A-Za-z0-9_]+:-(.*)\}$`).FindStringSubmatch(value); m != nil {
		return m[1]
	}
	return value
}

// configVars returns the variables services/<name>/internal/config reads,
// and SANDBOX, which every service reads.
func configVars(root, name string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(root, "services", name, "internal", "config", "*.go"))
	if err != nil {
		return nil, err
	}
	vars := map[string]bool{"SANDBOX": true}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range envTag.FindAllStringSubmatch(string(src), -1) {
			vars[m[1]] = true
		}
		// A shared config struct embedded without a prefix (serve.REST,
		// access.Config) reads its own tags as they are.
		for _, m := range embeddedConfig.FindAllStringSubmatch(string(src), -1) {
			if _, err := os.Stat(filepath.Join(root, "internal", m[1])); err != nil {
				continue
			}
			nested, err := nestedTags(root, m[1])
			if err != nil {
				return nil, err
			}
			for _, tag := range nested {
				vars[tag] = true
			}
		}
		// A nested struct under an envPrefix (the shared vendor config)
		// reads its own tags behind the prefix.
		for _, m := range envPrefixField.FindAllStringSubmatch(string(src), -1) {
			nested, err := nestedTags(root, m[1])
			if err != nil {
				return nil, err
			}
			for _, tag := range nested {
				vars[m[2]+tag] = true
			}
		}
	}
	if len(vars) == 1 {
		return nil, fmt.Errorf("no env:\"...\" tags in services/%s/internal/config/*.go", name)
	}
	return vars, nil
}

// deployed is one service with its compose entry and Dockerfile.
type deployed struct {
	name    string
	compose composeService
	docker  dockerfile
	vars    map[string]bool
}

// addrVar is the variable holding a service's listen address.
func (d deployed) addrVar() string {
	return strings.ToUpper(strings.ReplaceAll(d.name, "-", "_")) + "_ADDR"
}

// containerPort is the port of the service's API listener (gRPC and REST
// on one port): the first the compose service publishes. Others follow it,
// such as delivery's listener for vendor pushes.
func (d deployed) containerPort(t *testing.T) string {
	t.Helper()
	if len(d.compose.Ports) == 0 {
		t.Fatalf("compose %s: got no port mappings, want the API port first", d.name)
	}
	return d.compose.Ports[0].Target
}

// loadDeployed reads what the checks need about one service.
func loadDeployed(t *testing.T, root string, c composeFile, name string) deployed {
	t.Helper()
	svc, ok := c.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml services: got no %q, want one for services/%s/main.go", name, name)
	}
	dfPath := svc.Build.Dockerfile
	if dfPath == "" {
		dfPath = "Dockerfile"
	}
	dfPath = filepath.Join(root, svc.Build.Context, dfPath)
	data, err := os.ReadFile(dfPath)
	if err != nil {
		t.Fatalf("compose %s build: %v", name, err)
	}
	df, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatalf("%s: %v", dfPath, err)
	}
	vars, err := configVars(root, name)
	if err != nil {
		t.Fatal(err)
	}
	return deployed{name: name, compose: svc, docker: df, vars: vars}
}

// tagsFlag captures the value of go build's -tags flag.
var tagsFlag = regexp.MustCompile(`-tags[= ]+['"]?([^'"\s]+)`)

func TestServicesDeployable(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	compose := loadCompose(t, root)

	checks := []struct {
		name  string
		check func(t *testing.T, d deployed)
	}{
		{"dockerfile builds the service statically", func(t *testing.T, d deployed) {
			pkg := "./services/" + d.name
			var build string
			for _, s := range d.docker.stages[:len(d.docker.stages)-1] {
				for _, run := range s.args("RUN") {
					if strings.Contains(run, "go build") && slices.ContainsFunc(strings.Fields(run), func(f string) bool {
						return strings.TrimSuffix(f, "/") == pkg
					}) {
						build = run
						if !strings.Contains(run, "CGO_ENABLED=0") && !slices.ContainsFunc(s.args("ENV"), func(env string) bool {
							return strings.Contains(env, "CGO_ENABLED=0") || strings.Join(strings.Fields(env), " ") == "CGO_ENABLED 0"
						}) {
							t.Errorf("go build of %s: got CGO_ENABLED unset, want CGO_ENABLED=0", pkg)
						}
					}
				}
			}
			if build == "" {
				t.Fatalf("build stages: got no RUN go build ... %s, want one", pkg)
			}
			var tags []string
			if m := tagsFlag.FindStringSubmatch(build); m != nil {
				tags = strings.Split(m[1], ",")
			}
			if !slices.Contains(tags, "timetzdata") {
				t.Errorf("go build -tags: got %q, want timetzdata among them (the static image has no zoneinfo)", tags)
			}
		}},
		{"final stage is distroless static or scratch", func(t *testing.T, d deployed) {
			if len(d.docker.stages) < 2 {
				t.Errorf("stages: got %d, want a build stage and a final stage", len(d.docker.stages))
			}
			image := d.docker.final().image
			if image != "scratch" && !strings.HasPrefix(image, "gcr.io/distroless/static") {
				t.Errorf("final FROM: got %s, want gcr.io/distroless/static* or scratch", image)
			}
		}},
		{"dockerfile exposes the published ports", func(t *testing.T, d deployed) {
			var exposed []string
			for _, e := range d.docker.final().args("EXPOSE") {
				for _, f := range strings.Fields(e) {
					p, _, _ := strings.Cut(f, "/")
					exposed = append(exposed, p)
				}
			}
			for _, p := range d.compose.Ports {
				if !slices.Contains(exposed, p.Target) {
					t.Errorf("final stage EXPOSE: got %q, want %s (a port compose publishes)", exposed, p.Target)
				}
			}
		}},
		{"compose runs the sandbox", func(t *testing.T, d deployed) {
			got, ok := d.compose.Environment["SANDBOX"]
			if !ok || composeDefault(got) != "1" {
				t.Errorf("compose %s SANDBOX: got %q (set: %t), want \"1\" by default", d.name, got, ok)
			}
		}},
		{"compose address binds all interfaces on the published port", func(t *testing.T, d deployed) {
			port := d.containerPort(t)
			addr, ok := d.compose.Environment[d.addrVar()]
			if !ok {
				t.Fatalf("compose %s %s: got unset, want 0.0.0.0:%s", d.name, d.addrVar(), port)
			}
			host, p, err := net.SplitHostPort(addr)
			if err != nil || host != "0.0.0.0" || p != port {
				t.Errorf("compose %s %s: got %q, want 0.0.0.0:%s", d.name, d.addrVar(), addr, port)
			}
		}},
		{"compose sets only variables the service reads", func(t *testing.T, d deployed) {
			for name := range d.compose.Environment {
				if !d.vars[name] {
					t.Errorf("compose %s environment: got %s, want only variables with env:\"...\" tags in services/%s/internal/config or SANDBOX", d.name, name, d.name)
				}
			}
		}},
		{"compose publishes on loopback only", func(t *testing.T, d deployed) {
			for _, p := range d.compose.Ports {
				if p.HostIP != "127.0.0.1" {
					t.Errorf("compose %s port %s: got host IP %q, want 127.0.0.1", d.name, p.Target, p.HostIP)
				}
			}
		}},
		{"compose restarts and stops gracefully", func(t *testing.T, d deployed) {
			checkRestartAndGrace(t, d.name, d.compose)
		}},
		{"compose has a healthcheck", func(t *testing.T, d deployed) {
			h := d.compose.Healthcheck
			if h == nil || h.Disable || len(h.command()) < 2 || h.command()[0] == "NONE" {
				t.Fatalf("compose %s healthcheck: got none, want a test command", d.name)
			}
			if _, err := time.ParseDuration(h.StartPeriod); err != nil {
				t.Errorf("compose %s healthcheck start_period: got %q, want a duration (the first start migrates and warms up)", d.name, h.StartPeriod)
			}
			// distroless has no shell: the probe must be the image's binary.
			cmd := h.command()
			entry := d.docker.final().args("ENTRYPOINT")
			if cmd[0] == "CMD" && len(entry) > 0 {
				var exec []string
				if err := yaml.Unmarshal([]byte(entry[len(entry)-1]), &exec); err == nil && len(exec) > 0 && cmd[1] != exec[0] {
					t.Errorf("compose %s healthcheck: got %s, want the ENTRYPOINT binary %s", d.name, cmd[1], exec[0])
				}
			}
		}},
	}

	for _, name := range serviceNames(t, root) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := loadDeployed(t, root, compose, name)
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.check(t, d)
				})
			}
		})
	}
}

// longestWait is the longest call a service waits for: a vehicle lookup
// waits up to 60 s for its report.
const longestWait = 60 * time.Second

// checkRestartAndGrace wants a compose service restarted unless stopped by
// hand, and given longer than longestWait to stop.
func checkRestartAndGrace(t *testing.T, name string, svc composeService) {
	t.Helper()
	if svc.Restart != "unless-stopped" {
		t.Errorf("compose %s restart: got %q, want unless-stopped", name, svc.Restart)
	}
	grace, err := time.ParseDuration(svc.StopGracePeriod)
	if err != nil || grace <= longestWait {
		t.Errorf("compose %s stop_grace_period: got %q, want longer than %s", name, svc.StopGracePeriod, longestWait)
	}
}

func TestComposeExtrasSitBehindProfiles(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	compose := loadCompose(t, root)
	pg, ok := compose.Services["postgres"]
	if !ok {
		t.Fatal("compose services: got no postgres, want one behind a profile for the shared-store deployment")
	}
	for name, svc := range compose.Services {
		if _, err := os.Stat(filepath.Join(root, "services", name, "main.go")); err == nil {
			continue
		}
		if len(svc.Profiles) == 0 {
			t.Errorf("compose %s: got no profiles, want every service that is not ours behind one", name)
		}
		checkRestartAndGrace(t, name, svc)
		if svc.Healthcheck == nil {
			t.Errorf("compose %s: got no healthcheck, want one", name)
		} else if _, err := time.ParseDuration(svc.Healthcheck.StartPeriod); err != nil {
			t.Errorf("compose %s healthcheck start_period: got %q, want a duration", name, svc.Healthcheck.StartPeriod)
		}
		for _, p := range svc.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("compose %s port %s: got host IP %q, want 127.0.0.1", name, p.Target, p.HostIP)
			}
		}
	}
	if !strings.HasPrefix(pg.Image, "postgres:") {
		t.Errorf("compose postgres image: got %q, want postgres:<version>", pg.Image)
	}
}

func TestComposeBuildsOnlyServices(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for name, svc := range loadCompose(t, root).Services {
		if svc.Build.Context == "" {
			continue // a prebuilt image, not one of ours
		}
		// <service>-replicas runs more of one service.
		service := strings.TrimSuffix(name, replicasSuffix)
		if _, err := os.Stat(filepath.Join(root, "services", service, "main.go")); err != nil {
			t.Errorf("compose service %s: got no services/%s/main.go, want compose to build only services", name, service)
		}
		if want := "services/" + service + "/Dockerfile"; svc.Build.Dockerfile != want {
			t.Errorf("compose service %s dockerfile: got %q, want %s", name, svc.Build.Dockerfile, want)
		}
	}
}

// replicasSuffix names the compose service that runs two replicas of a
// service behind the shared Postgres.
const replicasSuffix = "-replicas"

// TestComposeReplicasShareOnePostgres: the "replicas" profile runs two
// replicas of every service with the single process's settings, except
// the database, which is the compose postgres service (healthy first), and
// the published ports, a loopback range with one port per replica for
// every port the single process publishes.
func TestComposeReplicasShareOnePostgres(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	compose := loadCompose(t, root)
	if pg := compose.Services["postgres"]; !slices.Contains(pg.Profiles, "replicas") {
		t.Errorf("compose postgres profiles: got %q, want it in the replicas profile", pg.Profiles)
	}
	for _, name := range serviceNames(t, root) {
		single := compose.Services[name]
		rname := name + replicasSuffix
		r, ok := compose.Services[rname]
		if !ok {
			t.Errorf("compose services: got no %s, want two replicas of %s in the replicas profile", rname, name)
			continue
		}
		if !slices.Equal(r.Profiles, []string{"replicas"}) {
			t.Errorf("compose %s profiles: got %q, want [replicas]", rname, r.Profiles)
		}
		if r.Deploy.Replicas != 2 {
			t.Errorf("compose %s deploy.replicas: got %d, want 2", rname, r.Deploy.Replicas)
		}
		if dep, ok := r.DependsOn["postgres"]; !ok || dep.Condition != "service_healthy" {
			t.Errorf("compose %s depends_on postgres: got %+v (set: %t), want condition service_healthy", rname, dep, ok)
		}
		dbVar := strings.ToUpper(name) + "_DATABASE_URL"
		if url := r.Environment[dbVar]; !strings.HasPrefix(url, "postgres://") || !strings.Contains(url, "@postgres:5432/") {
			t.Errorf("compose %s %s: got %q, want postgres://…@postgres:5432/… (the shared store)", rname, dbVar, url)
		}
		for k, v := range single.Environment {
			if k != dbVar && r.Environment[k] != v {
				t.Errorf("compose %s %s: got %q, want %q as in %s", rname, k, r.Environment[k], v, name)
			}
		}
		if len(r.Environment) != len(single.Environment) {
			t.Errorf("compose %s environment: got %d variables, want the %d of %s", rname, len(r.Environment), len(single.Environment), name)
		}
		if len(r.Ports) != len(single.Ports) {
			t.Fatalf("compose %s ports: got %d, want %d as in %s", rname, len(r.Ports), len(single.Ports), name)
		}
		for i, p := range r.Ports {
			lo, hi, _ := strings.Cut(p.Published, "-")
			l, errL := strconv.Atoi(lo)
			h, errH := strconv.Atoi(hi)
			if p.HostIP != "127.0.0.1" || errL != nil || errH != nil || h-l+1 != r.Deploy.Replicas || p.Target != single.Ports[i].Target {
				t.Errorf("compose %s port %d: got %s:%s:%s, want 127.0.0.1:<a>-<a+1>:%s", rname, i, p.HostIP, p.Published, p.Target, single.Ports[i].Target)
			}
		}
		if r.Healthcheck == nil || !slices.Equal(r.Healthcheck.command(), single.Healthcheck.command()) {
			t.Errorf("compose %s healthcheck: want the one of %s", rname, name)
		}
		checkRestartAndGrace(t, rname, r)
	}
}

func TestCIRunsTheChecksAndREADMETests(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	tests := []struct {
		file     string
		want     string // a line of file, or for README.md a substring
		optional bool   // skip when file does not exist yet
	}{
		{file: ".ci/run", want: readmeTestCommand},
		{file: ".ci/run", want: "./scripts/check"},
		{file: "README.md", want: readmeTestCommand, optional: true},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.want, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(root, tt.file))
			if errors.Is(err, os.ErrNotExist) && tt.optional {
				t.Skipf("%s does not exist yet", tt.file)
			}
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			var found bool
			if tt.file == "README.md" {
				found = strings.Contains(text, tt.want)
			} else {
				found = slices.ContainsFunc(strings.Split(text, "\n"), func(l string) bool {
					return strings.TrimSpace(l) == tt.want
				})
			}
			if !found {
				t.Errorf("%s: got no line %q, want it (the README's test command is what CI runs)", tt.file, tt.want)
			}
		})
	}
}

func TestScriptsAreExecutable(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, script := range []string{".ci/run", "scripts/check", "scripts/generate", "scripts/sandbox"} {
		t.Run(script, func(t *testing.T) {
			t.Parallel()
			info, err := os.Stat(filepath.Join(root, script))
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode()&0o111 == 0 {
				t.Errorf("%s mode: got %v, want executable", script, info.Mode())
			}
		})
	}
}
