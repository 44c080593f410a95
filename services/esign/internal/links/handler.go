package links

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/rpcstatus"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
)

// The routes, as http.ServeMux patterns. A link is the first; a view
// link's page is served as a directory (the link redirects to it with a
// slash), so that the page's relative references (style sheets, scripts,
// its embedded PDF) resolve under the same token and come through the
// second, as they would under Fadada's API root.
const (
	RouteLink = "GET " + PathPrefix + "{token}"
	RoutePage = "GET " + PathPrefix + "{token}/{path...}"
)

// ReasonLinkNotFound is the ErrorInfo reason of a link that opens nothing
// (404): malformed, tampered with, signed with another secret, expired, or
// asking for another contract than its own. Which of these it is is not
// said.
const ReasonLinkNotFound = "LINK_NOT_FOUND"

// Caller is the caller of the Fadada calls a link makes, in the usage
// ledger: not a name a callers file can hold (it refuses parentheses), so
// it never mixes with an API caller's.
const Caller = "(link)"

// Bounds on what a view page's reference may ask for; longer is 404.
const (
	maxAssetPath  = 1024
	maxAssetQuery = 2048
)

// The names a page's signed link carries, which the service signs afresh
// rather than pass on.
var signedParams = []string{"app_id", "v", "timestamp", "msg_digest", "contract_id"}

// Vendor is what the links need of the Fadada client.
type Vendor interface {
	OpenPage(ctx context.Context, p fadada.Page, contractID string, extra url.Values, consume fadada.PageConsumer) error
	OpenAsset(ctx context.Context, relPath, rawQuery string, consume fadada.PageConsumer) error
}

// Handler serves the links. No API key guards it: the token is the
// permission, for one contract's page, until it expires.
type Handler struct {
	tokens *Tokens
	vendor Vendor
	domain string
	log    *slog.Logger
}

// NewHandler returns a Handler that opens tokens' links at vendor; domain
// is the ErrorInfo domain of its errors, log receives one line per link
// opened (never the token).
func NewHandler(tokens *Tokens, vendor Vendor, domain string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{tokens: tokens, vendor: vendor, domain: domain, log: log}
}

// Routes are the handler's routes, for serve.Options.ExtraHTTP (whose
// routes no API-key guard runs in front of).
func (h *Handler) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		RouteLink: http.HandlerFunc(h.link),
		RoutePage: http.HandlerFunc(h.page),
	}
}

// link serves RouteLink: a download link streams the PDF; a view link
// redirects to its page, the token as a directory.
func (h *Handler) link(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	ref, err := h.tokens.Open(token)
	if err != nil {
		h.notFound(w, r, "", err)
		return
	}
	if ref.Kind == View {
		// Relative, so that it holds behind a proxy that adds a path
		// prefix (ESIGN_LINK_BASE_URL with a path).
		setPrivate(w.Header())
		w.Header().Set("Location", token+"/")
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	h.serve(w, r, ref, "", func(ctx context.Context, consume fadada.PageConsumer) error {
		return h.vendor.OpenPage(ctx, fadada.PageDownload, ref.ContractID, nil, consume)
	})
}

// page serves RoutePage: a view link's page and what the page refers to.
// A reference to one of Fadada's browser pages is signed afresh for the
// token's contract (and is 404 when it names another contract); a
// reference to any other endpoint is 404; anything else under the API
// root is fetched with the gateway's signature.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	rel := r.PathValue("path")
	ref, err := h.tokens.Open(r.PathValue("token"))
	if err != nil {
		h.notFound(w, r, rel, err)
		return
	}
	if ref.Kind != View {
		h.notFound(w, r, rel, errors.New("a download link has no page"))
		return
	}
	var open func(context.Context, fadada.PageConsumer) error
	if p, ok := pages[rel]; ok || rel == "" {
		if rel == "" {
			p = fadada.PageView
		}
		q := r.URL.Query()
		if ids := q["contract_id"]; len(ids) > 1 || len(ids) == 1 && ids[0] != ref.ContractID {
			h.notFound(w, r, rel, errors.New("the reference names another contract"))
			return
		}
		for _, k := range signedParams {
			q.Del(k)
		}
		open = func(ctx context.Context, consume fadada.PageConsumer) error {
			return h.vendor.OpenPage(ctx, p, ref.ContractID, q, consume)
		}
	} else {
		if reason := badAsset(rel, r.URL.RawQuery); reason != "" {
			h.notFound(w, r, rel, errors.New(reason))
			return
		}
		open = func(ctx context.Context, consume fadada.PageConsumer) error {
			return h.vendor.OpenAsset(ctx, rel, r.URL.RawQuery, consume)
		}
	}
	h.serve(w, r, ref, rel, open)
}

// pages are Fadada's browser pages by their name relative to the API
// root, as a view page refers to them.
var pages = map[string]fadada.Page{
	strings.TrimPrefix(string(fadada.PageView), "/"):     fadada.PageView,
	strings.TrimPrefix(string(fadada.PageDownload), "/"): fadada.PageDownload,
}

// badAsset says why a view page's reference is not one the service
// fetches, or "" when it is: it must stay under the API root, name no
// endpoint of the API (".api"), and be bounded and clean.
func badAsset(rel, rawQuery string) string {
	if len(rel) > maxAssetPath || len(rawQuery) > maxAssetQuery {
		return "the reference is too long"
	}
	for _, s := range strings.Split(rel, "/") {
		switch {
		case s == "" || s == "." || s == "..":
			return "the reference leaves the API root"
		case strings.Contains(strings.ToLower(s), ".api"):
			return "the reference names an endpoint"
		case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
			return "the reference has control characters"
		}
	}
	if strings.ContainsFunc(rawQuery, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "the reference has control characters"
	}
	return ""
}

// serve streams what open fetches to w: the vendor's media type and length
// and the bytes as they come (a client that reads slowly slows the
// vendor's transfer; nothing is buffered beyond io.Copy's one buffer).
// A failure before the first byte is the REST face's error; after it, the
// response is cut, so that the client sees it incomplete.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, ref Ref, rel string, open func(context.Context, fadada.PageConsumer) error) {
	start := time.Now()
	ctx := auth.WithCaller(r.Context(), auth.Caller{Name: Caller})
	var wrote bool
	var n int64
	err := open(ctx, func(info fadada.PageInfo, body io.Reader) error {
		hdr := w.Header()
		setPrivate(hdr)
		hdr.Set("Content-Type", info.ContentType)
		if info.ContentLength >= 0 {
			hdr.Set("Content-Length", strconv.FormatInt(info.ContentLength, 10))
		}
		if info.ContentType == "application/pdf" {
			disposition := "inline"
			if ref.Kind == Download {
				disposition = "attachment"
			}
			hdr.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": ref.ContractID + ".pdf"}))
		}
		w.WriteHeader(http.StatusOK)
		wrote = true
		if r.Method == http.MethodHead {
			return nil
		}
		var err error
		n, err = io.Copy(w, body)
		return err
	})
	attrs := []slog.Attr{
		slog.String("contract_id", ref.ContractID), slog.String("link", ref.Kind.String()), slog.String("path", rel),
		slog.Int64("bytes", n), slog.Duration("duration", time.Since(start)), slog.String("peer.address", r.RemoteAddr),
	}
	switch {
	case err == nil:
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "link opened", attrs...)
	case wrote:
		// Headers and some bytes are out: only cutting the connection
		// tells the client the body is incomplete (as
		// httputil.ReverseProxy does).
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "link cut short", append(attrs, slog.String("error", err.Error()))...)
		panic(http.ErrAbortHandler)
	default:
		st := rpcstatus.FromError(err, h.domain)
		level := slog.LevelWarn
		if st.Code() == codes.Internal || st.Code() == codes.Unknown {
			level = slog.LevelError
		}
		h.log.LogAttrs(r.Context(), level, "link not opened", append(attrs, slog.String("code", st.Code().String()),
			slog.String("error", err.Error()))...)
		serve.WriteError(w, st)
	}
}

// notFound answers a link (or, with rel, a view page's reference) that
// opens nothing, before any vendor call.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, rel string, why error) {
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "link refused", slog.String("path", rel), slog.String("why", why.Error()),
		slog.String("peer.address", r.RemoteAddr))
	serve.WriteError(w, rpcstatus.FromError(domainerr.NotFound(ReasonLinkNotFound,
		"this link is unknown or has expired: ask for a new one (GetContractLinks)"), h.domain))
}

// setPrivate keeps a link's answers out of shared caches and the token
// out of the Referer the page's own links would send elsewhere.
func setPrivate(h http.Header) {
	h.Set("Cache-Control", "private, no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}
