// Package envconfig parses a service's typed configuration struct from the
// environment with github.com/caarlos0/env, naming every missing or
// malformed variable in one error.
package envconfig

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Parse fills a T from environ (as os.Environ returns it) using T's `env`
// and `envDefault` tags. The error lists every problem, one per line,
// each naming its variable.
func Parse[T any](environ []string) (T, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var cfg T
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return cfg, Join(namedParseErrors[T](err))
	}
	return cfg, nil
}

// Join joins errs into one error with a stable order, or returns nil.
func Join(errs ...error) error {
	var lines []string
	for _, err := range errs {
		if err != nil {
			lines = append(lines, strings.Split(err.Error(), "\n")...)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	sort.Strings(lines)
	return fmt.Errorf("config: %s", strings.Join(lines, "; "))
}

// namedParseErrors rewrites the env library's parse errors, which name the
// struct field, to name the environment variable instead.
func namedParseErrors[T any](err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	out := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if name, ok := envName(reflect.TypeFor[T](), "", pe.Name); ok {
				e = fmt.Errorf("%s: %w", name, pe.Err)
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// envName finds the variable of the field named field in t or in a
// struct nested in it, with the nested structs' envPrefix tags applied.
func envName(t reflect.Type, prefix, field string) (string, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == field && f.Tag.Get("env") != "" {
			return prefix + f.Tag.Get("env"), true
		}
		if f.Type.Kind() == reflect.Struct {
			if name, ok := envName(f.Type, prefix+f.Tag.Get("envPrefix"), field); ok {
				return name, true
			}
		}
	}
	return "", false
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
