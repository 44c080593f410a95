package serve

import (
	"bufio"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// shortcutRules are the routes TestShortcutRoutesAsTheGateway routes by:
// direct routes alone and not, a literal and a deep variable overlapping
// them, a verb route and a POST on the same paths.
var shortcutRules = []*annotations.HttpRule{
	{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{value}"}},
	{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/special"}},
	{Pattern: &annotations.HttpRule_Get{Get: "/v1/y/{value}"}},
	{Pattern: &annotations.HttpRule_Get{Get: "/v1/y/{value}:watch"}},
	{Pattern: &annotations.HttpRule_Post{Post: "/v1/y/{value}"}},
	{Pattern: &annotations.HttpRule_Get{Get: "/v1/y/{value}/z"}},
	{Pattern: &annotations.HttpRule_Get{Get: "/v1/v/{value=*}/w"}},
	{Pattern: &annotations.HttpRule_Get{Get: "/v1/deep/{value=**}"}},
	{Pattern: &annotations.HttpRule_Get{Get: "/v1/deep/{value}/q"}},
}

// shortcutPaths are request paths, hostile ones among them: escaped
// slashes and colons, empty and dot segments, a trailing slash,
// non-ASCII, escapes of the escape character, a NUL and a verb.
var shortcutPaths = []string{
	"/v1/y/abc", "/v1/y/abc?value=other", "/v1/y/a%2Fb", "/v1/y/a:b", "/v1/y/abc:watch",
	"/v1/y/a%3Awatch", "/v1/y/", "/v1/y//", "/v1/y/abc/", "/v1/y/abc/z", "/v1/y/%E8%AE%A2",
	"/v1/y/a%20b", "/v1/y/a%25b", "/v1/y/a%252Fb", "/v1/y/..", "/v1/y/.", "/v1/y/%2E%2E",
	"/v1/y/abc%00", "/v1/y/a;b", "/v1/Y/abc", "//v1/y/abc", "/v1/y/abc/z/", "/v1/v/a/w",
	"/v1/v/a%2Fb/w", "/v1/x/special", "/v1/x/other", "/v1/deep/a/b", "/v1/deep/a/q",
	"/v1/y/:watch", "/v1/y/a%2F", "*", "/v1/y/abc#frag",
}

// TestShortcutRoutesAsTheGateway: a GET the face serves without the
// gateway's router (shortcut) is one the router sends to the same route,
// with the same values, whatever order the routes were registered in;
// and hostile paths (escaped slashes and colons, empty segments) are left
// to the router.
func TestShortcutRoutesAsTheGateway(t *testing.T) {
	t.Parallel()
	for _, reverse := range []bool{false, true} {
		c := newShortcutCase(t, reverse)
		var took []string
		for _, p := range shortcutPaths {
			if c.check(t, p) {
				took = append(took, p)
			}
		}
		want := []string{"/v1/y/abc", "/v1/y/abc?value=other", "/v1/y/abc/z", "/v1/y/%E8%AE%A2",
			"/v1/y/a%20b", "/v1/y/a%25b", "/v1/y/a%252Fb", "/v1/y/..", "/v1/y/.", "/v1/y/%2E%2E",
			"/v1/y/abc%00", "/v1/y/a;b", "/v1/v/a/w", "/v1/y/abc#frag"}
		if !slices.Equal(took, want) {
			t.Errorf("shortcut took %q, want %q", took, want)
		}
	}
}

// FuzzShortcutRoutesAsTheGateway is TestShortcutRoutesAsTheGateway's
// check on any path: go test -fuzz FuzzShortcut ./internal/serve/.
func FuzzShortcutRoutesAsTheGateway(f *testing.F) {
	for _, p := range shortcutPaths {
		f.Add(p)
	}
	c := newShortcutCase(f, false)
	f.Fuzz(func(t *testing.T, path string) { c.check(t, path) })
}

// TestShortcutNeedsTheWholeTable: when a registered service's routes are
// unknown, the face routes nothing past the gateway.
func TestShortcutNeedsTheWholeTable(t *testing.T) {
	t.Parallel()
	f := &restFace{routes: shortcutTable(t)}
	for _, rt := range f.routes {
		f.addDirect(rt, localMethod{})
	}
	if len(f.direct) == 0 || len(f.shortcuts) != 0 {
		t.Errorf("without the whole table: %d direct routes, %d shortcuts; want some, none", len(f.direct), len(f.shortcuts))
	}
}

func shortcutTable(t testing.TB) routeTable {
	var table routeTable
	for _, b := range shortcutRules {
		r, err := newRoute(b, "/x.S/M", (&wrapperspb.StringValue{}).ProtoReflect().Descriptor())
		if err != nil {
			t.Fatal(err)
		}
		table = append(table, r)
	}
	return table
}

// shortcutCase is a face with shortcutRules' routes and a gateway router
// with the same routes, whose handlers tell what they were given.
type shortcutCase struct {
	face *restFace
	mux  *runtime.ServeMux
}

func newShortcutCase(t testing.TB, reverse bool) *shortcutCase {
	c := &shortcutCase{face: &restFace{routes: shortcutTable(t), wholeTable: true}, mux: runtime.NewServeMux()}
	for _, rt := range c.face.routes {
		c.face.addDirect(rt, localMethod{})
	}
	routes := slices.Clone(c.face.routes)
	if reverse {
		slices.Reverse(routes)
	}
	for _, rt := range routes {
		key := rt.patternKey()
		c.mux.Handle(rt.method, compilePattern(rt), func(w http.ResponseWriter, _ *http.Request, params map[string]string) {
			w.Header().Set("X-Route", key)
			for _, k := range slices.Sorted(maps.Keys(params)) {
				w.Header().Add("X-Param", k+"="+params[k])
			}
		})
	}
	return c
}

// check routes a GET of path both ways and reports whether shortcut took
// it; it fails t when shortcut took it elsewhere than the router would.
func (c *shortcutCase) check(t *testing.T, path string) bool {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n")))
	if err != nil {
		return false
	}
	rt, _ := c.face.routes.match(r.Method, r.URL.EscapedPath())
	d, values, ok := c.face.shortcut(r, rt)
	if !ok {
		return false
	}
	w := &headerRecorder{header: http.Header{}}
	c.mux.ServeHTTP(w, r)
	var got []string
	for i, n := range d.names {
		got = append(got, n+"="+values[i])
	}
	if w.header.Get("X-Route") != d.rt.patternKey() || !slices.Equal(w.header["X-Param"], got) {
		t.Errorf("GET %s: shortcut took %s with %q; the gateway's router: %q with %q (HTTP %d)",
			path, d.rt.patternKey(), got, w.header.Get("X-Route"), w.header["X-Param"], w.code)
	}
	return true
}

// headerRecorder is the little of an http.ResponseWriter check reads.
type headerRecorder struct {
	header http.Header
	code   int
}

func (w *headerRecorder) Header() http.Header         { return w.header }
func (w *headerRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerRecorder) WriteHeader(code int)        { w.code = code }

// compilePattern is the gateway's Pattern of rt, as protoc-gen-grpc-gateway
// compiles a template of literals, single and deep variables
// (TestPatternKey holds the encoding to the generator's).
func compilePattern(rt *route) runtime.Pattern {
	const (
		opPush, opLitPush, opPushM, opConcatN, opCapture = 1, 2, 3, 4, 5
	)
	var ops []int
	var pool []string
	index := func(s string) int {
		if i := slices.Index(pool, s); i >= 0 {
			return i
		}
		pool = append(pool, s)
		return len(pool) - 1
	}
	for i, seg := range rt.segments {
		switch seg {
		case "*":
			ops = append(ops, opPush, 0, opConcatN, 1, opCapture, index(rt.vars[i]))
		case "**":
			ops = append(ops, opPushM, 0, opConcatN, 1, opCapture, index(rt.vars[i]))
		default:
			ops = append(ops, opLitPush, index(seg))
		}
	}
	return runtime.MustPattern(runtime.NewPattern(1, ops, pool, rt.verb))
}
