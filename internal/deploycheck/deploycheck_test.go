package deploycheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
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

// deployed is one service with its compose entry (the default run, no
// env file) and its Dockerfile.
type deployed struct {
	name    string
	compose types.ServiceConfig
	docker  dockerfile
	vars    map[string]bool
}

// entrypoint is the binary the image runs: its ENTRYPOINT's first word.
func (d deployed) entrypoint() string {
	entry := d.docker.final().args("ENTRYPOINT")
	if len(entry) == 0 {
		return ""
	}
	var exec []string
	if err := yaml.Unmarshal([]byte(entry[len(entry)-1]), &exec); err != nil || len(exec) == 0 {
		return ""
	}
	return exec[0]
}

// exposed returns the ports the image's final stage EXPOSEs.
func (d deployed) exposed() []string {
	var ports []string
	for _, e := range d.docker.final().args("EXPOSE") {
		for _, f := range strings.Fields(e) {
			p, _, _ := strings.Cut(f, "/")
			ports = append(ports, p)
		}
	}
	return ports
}

// loadDeployed reads what the checks need about one service.
func loadDeployed(t *testing.T, root string, p *types.Project, name string) deployed {
	t.Helper()
	svc, ok := p.Services[name]
	if !ok {
		t.Fatalf("%s services: got no %q, want one for services/%s/main.go", composeFile, name, name)
	}
	if svc.Build == nil {
		t.Fatalf("%s %s: got no build, want services/%s/Dockerfile", composeFile, name, name)
	}
	dfPath := svc.Build.Dockerfile
	if dfPath == "" {
		dfPath = "Dockerfile"
	}
	if !filepath.IsAbs(dfPath) {
		dfPath = filepath.Join(svc.Build.Context, dfPath)
	}
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
	compose := mustLoadCompose(t, root, composeRun{})

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
			exposed := d.exposed()
			for _, p := range d.compose.Ports {
				if !slices.Contains(exposed, strconv.Itoa(int(p.Target))) {
					t.Errorf("final stage EXPOSE: got %q, want %d (a port compose publishes)", exposed, p.Target)
				}
			}
		}},
		{"compose healthcheck runs the image's binary", func(t *testing.T, d deployed) {
			// distroless has no shell: the probe must be the image's binary.
			h := d.compose.HealthCheck
			if h == nil || len(h.Test) < 2 {
				t.Fatalf("compose %s healthcheck: got none, want a test command", d.name)
			}
			if h.Test[0] == "CMD" && d.entrypoint() != "" && h.Test[1] != d.entrypoint() {
				t.Errorf("compose %s healthcheck: got %s, want the ENTRYPOINT binary %s", d.name, h.Test[1], d.entrypoint())
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

// TestCIRunsTheChecksAndREADMETests: CI runs scripts/check and
// scripts/test, and scripts/test runs the README's test command.
func TestCIRunsTheChecksAndREADMETests(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	tests := []struct {
		file     string
		want     string // a line of file, after any VAR=value prefixes; for README.md a substring
		optional bool   // skip when file does not exist yet
	}{
		{file: ".ci/run", want: "./scripts/check"},
		{file: ".ci/run", want: "./scripts/test"},
		{file: "scripts/test", want: `exec go test -race -count=1 "$@" ./...`},
		{file: "README.md", want: "./scripts/test"},
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
					return withoutAssignments(l) == tt.want
				})
			}
			if !found {
				t.Errorf("%s: got no line %q, want it (the README's test command is what CI runs)", tt.file, tt.want)
			}
		})
	}
}

// withoutAssignments returns a shell line without its leading VAR=value
// words and surrounding space.
func withoutAssignments(line string) string {
	line = strings.TrimSpace(line)
	for {
		word, rest, ok := strings.Cut(line, " ")
		name, _, isAssign := strings.Cut(word, "=")
		if !ok || !isAssign || name == "" || strings.ContainsAny(name, `"'$/.`) {
			return line
		}
		line = strings.TrimSpace(rest)
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
