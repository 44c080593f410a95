package serve

import (
	"embed"
	"io/fs"
	"net/http"
)

// docsFS holds the /docs page and the Swagger UI assets it loads, vendored
// by scripts/fetch-swagger-ui, so the page needs no internet.
//
//go:embed docs
var docsFS embed.FS

// docsHandler serves the docs page and its assets under /docs/.
func docsHandler() (http.Handler, error) {
	sub, err := fs.Sub(docsFS, "docs")
	if err != nil {
		return nil, err
	}
	files := http.StripPrefix("/docs/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		if r.URL.Path == "/docs" {
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		files.ServeHTTP(w, r)
	}), nil
}

// openAPIHandler serves the service's OpenAPI document.
func openAPIHandler(doc []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(doc)
	})
}
