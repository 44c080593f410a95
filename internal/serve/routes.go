package serve

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// route is one REST binding of an RPC, from its google.api.http option.
type route struct {
	// method is the HTTP method, e.g. "POST".
	method string
	// template is the path template, e.g. "/v1/delivery/orders/{origin_id}:cancel".
	template string
	// rpc is the gRPC method, e.g. "/vendorgate.delivery.v1.DeliveryService/CancelOrder".
	rpc string
	// input is the RPC's request message.
	input protoreflect.MessageDescriptor
	// segments are the template's path segments; "*" matches one segment,
	// "**" the rest of the path.
	segments []string
	// vars are the names of the variables segments capture, by segment
	// ("" for a literal).
	vars []string
	// verb is the custom method after the last ":", e.g. "cancel".
	verb string
	// name is key's answer, built once: it names every request's route.
	name string
	// responseBody is the binding's response_body: the field of the
	// answer the route writes, "" for all of it.
	responseBody string
}

// key names the route in metrics, logs and Options.RouteBodyLimits:
// "POST /v1/delivery/orders/{origin_id}:cancel".
func (r *route) key() string { return r.name }

// routeTable holds every REST route of the services a server registered.
type routeTable []*route

// newRouteTable reads the google.api.http options of the named services'
// methods from files, and reports whether it knew every service. A service
// files does not know has no routes: its gateway handlers still serve,
// without per-route limits or an Allow list.
func newRouteTable(files *protoregistry.Files, services []string) (t routeTable, whole bool, err error) {
	whole = true
	for _, name := range services {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			whole = false
			continue
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			whole = false
			continue
		}
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			rule, ok := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
			if !ok || rule == nil {
				continue
			}
			rpc := "/" + string(sd.FullName()) + "/" + string(md.Name())
			for _, b := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				r, err := newRoute(b, rpc, md.Input())
				if err != nil {
					return nil, false, err
				}
				if r != nil {
					t = append(t, r)
				}
			}
		}
	}
	return t, whole, nil
}

// newRoute parses one binding; a binding without a pattern is nil.
func newRoute(b *annotations.HttpRule, rpc string, input protoreflect.MessageDescriptor) (*route, error) {
	var method, tmpl string
	switch p := b.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		method, tmpl = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		method, tmpl = http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		method, tmpl = http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		method, tmpl = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		method, tmpl = http.MethodDelete, p.Delete
	case *annotations.HttpRule_Custom:
		method, tmpl = p.Custom.GetKind(), p.Custom.GetPath()
	default:
		return nil, nil
	}
	if !strings.HasPrefix(tmpl, "/") {
		return nil, fmt.Errorf("route %s %q of %s: the template does not start with /", method, tmpl, rpc)
	}
	r := &route{method: method, template: tmpl, rpc: rpc, input: input, name: method + " " + tmpl, responseBody: b.GetResponseBody()}
	path := tmpl[1:]
	// A verb follows the last ":" that is outside braces.
	if i := strings.LastIndex(path, ":"); i >= 0 && !strings.Contains(path[i:], "}") {
		path, r.verb = path[:i], path[i+1:]
	}
	for _, seg := range strings.Split(path, "/") {
		name := ""
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			v, pat, hasPat := strings.Cut(seg[1:len(seg)-1], "=")
			name = v
			switch {
			case !hasPat || pat == "*":
				seg = "*"
			case pat == "**":
				seg = "**"
			default:
				return nil, fmt.Errorf("route %s %q of %s: variable pattern %q is not supported", method, tmpl, rpc, pat)
			}
		case strings.ContainsAny(seg, "{}"):
			return nil, fmt.Errorf("route %s %q of %s: segment %q is not supported", method, tmpl, rpc, seg)
		}
		r.segments = append(r.segments, seg)
		r.vars = append(r.vars, name)
	}
	return r, nil
}

// matches reports whether the route's template matches the escaped path.
// It runs for the routes of every REST request: it walks the path's
// segments in place instead of splitting it (an allocation per route
// tried).
func (r *route) matches(path string) bool {
	path = strings.TrimPrefix(path, "/")
	if r.verb != "" {
		rest, ok := strings.CutSuffix(path, r.verb)
		if !ok || !strings.HasSuffix(rest, ":") {
			return false
		}
		path = rest[:len(rest)-1]
	}
	_, ok := r.walk(path, nil, false)
	return ok
}

// walk reports whether path, without its leading "/" and its verb, fills
// the template's segments: each literal equal, each variable ("*") a
// segment not empty, a "**" the rest. With capture it appends the
// variables' values, as they stand in path, to values and returns them.
func (r *route) walk(path string, values []string, capture bool) ([]string, bool) {
	rest, more := path, true
	for _, seg := range r.segments {
		if seg == "**" {
			if capture {
				values = append(values, rest)
			}
			return values, true
		}
		if !more {
			return values, false
		}
		var c string
		c, rest, more = strings.Cut(rest, "/")
		switch {
		case seg == "*":
			if c == "" {
				return values, false
			}
			if capture {
				values = append(values, c)
			}
		case seg != c:
			return values, false
		}
	}
	return values, !more
}

// match returns the route for method and the escaped path, or, when only
// other methods serve the path, nil and those methods, sorted.
func (t routeTable) match(method, path string) (*route, []string) {
	var allowed []string
	for _, r := range t {
		if !r.matches(path) {
			continue
		}
		if r.method == method {
			return r, nil
		}
		if !slices.Contains(allowed, r.method) {
			allowed = append(allowed, r.method)
		}
	}
	slices.Sort(allowed)
	return nil, allowed
}

// byKey returns the route whose key is key, or nil.
func (t routeTable) byKey(key string) *route {
	for _, r := range t {
		if r.key() == key {
			return r
		}
	}
	return nil
}

// byRPC returns the first route of the gRPC method rpc, or nil.
func (t routeTable) byRPC(rpc string) *route {
	for _, r := range t {
		if r.rpc == rpc {
			return r
		}
	}
	return nil
}
