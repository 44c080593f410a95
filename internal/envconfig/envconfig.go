// Package envconfig parses a service's typed configuration struct from the
// environment with github.com/caarlos0/env, naming every missing or
// malformed variable in one error.
package envconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Parse fills a T from environ (as os.Environ returns it) using T's `env`
// and `envDefault` tags. The error lists every problem, one per line,
// each naming its variable.
//
// On error the T is still filled as far as it parses: every field but
// the ones named in the error holds its value or default, so that a
// caller can check the rest and report every problem at once (see Join).
//
// Every variable may instead be read from a file named by <VAR>_FILE (as
// a Kubernetes or Docker secret is mounted): the file's content, without a
// trailing line break, is the value. Setting both is an error.
func Parse[T any](environ []string) (T, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var cfg T
	fileErrs := fromFiles(&cfg, vars)
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return cfg, errors.Join(append(fileErrs, namedParseErrors[T](err, vars))...)
	}
	return cfg, errors.Join(fileErrs...)
}

// fileSuffix names the variable that holds the path of another's value.
const fileSuffix = "_FILE"

// fromFiles sets in vars each variable of cfg's type whose <VAR>_FILE is
// set, from that file, and returns one error per file that cannot be read
// or variable set both ways. A <VAR>_FILE that is itself a variable of the
// type (e.g. AUTH_KEYS_FILE) is left alone.
func fromFiles(cfg any, vars map[string]string) []error {
	params, err := env.GetFieldParamsWithOptions(cfg, env.Options{Environment: vars})
	if err != nil {
		return nil // Parse reports the type's own problems
	}
	known := make(map[string]bool, len(params))
	keys := make([]string, 0, len(params))
	for _, p := range params {
		if !known[p.Key] {
			keys = append(keys, p.Key)
		}
		known[p.Key] = true
	}
	sort.Strings(keys)
	var errs []error
	for _, key := range keys {
		path, ok := vars[key+fileSuffix]
		if !ok || known[key+fileSuffix] {
			continue
		}
		if _, set := vars[key]; set {
			errs = append(errs, fmt.Errorf("%s and %s%s are both set: set one", key, key, fileSuffix))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", key, fileSuffix, err))
			continue
		}
		vars[key] = strings.TrimRight(string(b), "\r\n")
	}
	return errs
}

// Join joins errs into one error with a stable order, or returns nil.
//
// Every line of an error must start with the variable it is about, as the
// errors of Parse, Require and HTTPURL do. Only the first line about each
// variable is kept: a variable that did not parse holds its zero value,
// and a later check of that value ("must be positive") would only repeat
// the problem less clearly. So pass Parse's error first.
func Join(errs ...error) error {
	var lines []string
	seen := make(map[string]bool)
	for _, err := range errs {
		if err == nil {
			continue
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			name := variable(line)
			if name != "" && seen[name] {
				continue
			}
			seen[name] = true
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	sort.Strings(lines)
	return fmt.Errorf("config: %s", strings.Join(lines, "; "))
}

// variable is the name a problem line starts with: its leading run of
// upper-case letters, digits and underscores, or "" when there is none.
func variable(line string) string {
	end := strings.IndexFunc(line, func(r rune) bool {
		return (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_'
	})
	if end < 0 {
		end = len(line)
	}
	return line[:end]
}

// namedParseErrors rewrites the env library's errors so that each line
// starts with the environment variable it is about: its parse errors name
// the struct field instead, and its missing-variable errors put the name
// last. A field that several nested structs share (Timeout under two
// vendor prefixes) names each of its variables that is set in vars, since
// only a set variable can fail to parse.
func namedParseErrors[T any](err error, vars map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	out := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var (
			pe       env.ParseError
			notSet   env.VarIsNotSetError
			emptyVar env.EmptyVarError
		)
		switch {
		case errors.As(e, &pe):
			names := envNames(reflect.TypeFor[T](), "", pe.Name)
			if set := slices.DeleteFunc(slices.Clone(names), func(n string) bool { _, ok := vars[n]; return !ok }); len(set) > 0 {
				names = set
			}
			for _, name := range names {
				out = append(out, fmt.Errorf("%s: %w", name, pe.Err))
			}
			if len(names) == 0 {
				out = append(out, e)
			}
		case errors.As(e, &notSet):
			out = append(out, fmt.Errorf("%s is required", notSet.Key))
		case errors.As(e, &emptyVar):
			out = append(out, fmt.Errorf("%s must not be empty", emptyVar.Key))
		default:
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

// envNames finds the variables of the fields named field in t and in the
// structs nested in it, with the nested structs' envPrefix tags applied.
func envNames(t reflect.Type, prefix, field string) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == field && f.Tag.Get("env") != "" {
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			names = append(names, prefix+name)
		}
		if f.Type.Kind() == reflect.Struct {
			names = append(names, envNames(f.Type, prefix+f.Tag.Get("envPrefix"), field)...)
		}
	}
	return names
}

// Require returns an error for each named value that is empty.
func Require(hint string, named map[string]string) []error {
	var errs []error
	for name, v := range named {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required%s", name, hint))
		}
	}
	return errs
}

// HTTPURL returns an error naming the variable when value is set but is
// not an absolute http(s) URL.
func HTTPURL(name, value string) error {
	if value == "" {
		return nil
	}
	if u, err := url.Parse(value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an http(s) URL", name, value)
	}
	return nil
}
