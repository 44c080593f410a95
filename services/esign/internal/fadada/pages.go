package fadada

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vendorgate/vendorgate/internal/formsign"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Page is one of the contract pages Fadada serves to a browser, opened by
// a GET of a signed link (…?app_id&v&timestamp&contract_id&msg_digest).
type Page string

// The browser pages.
const (
	// PageView is viewContract.api: a page that shows the contract.
	PageView Page = PathViewContract
	// PageDownload is downLoadContract.api: the contract's PDF.
	PageDownload Page = PathDownloadContract
)

// EndpointPageAsset names, in metrics, logs and the usage ledger, the
// requests for what a view page refers to (its style sheets, scripts,
// images): one label for every path, so that the paths a page names do
// not each make a series.
const EndpointPageAsset = "/page-asset"

// PageInfo is what the vendor said about a page it serves.
type PageInfo struct {
	// ContentType is the page's media type: the vendor's Content-Type for
	// a view page or an asset, the sniffed file type for a download.
	ContentType string
	// ContentLength is the vendor's Content-Length; -1 when it sent none.
	ContentLength int64
}

// PageConsumer receives a page that Fadada served: its description and its
// body, to be read as it arrives (body is valid until PageConsumer returns).
type PageConsumer func(info PageInfo, body io.Reader) error

// link is the signed GET link to a page of contractID at at, with extra
// parameters that the msg_digest does not cover.
func (c *Client) link(p Page, contractID string, extra url.Values, at time.Time) (string, error) {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	q.Set("contract_id", contractID)
	signed, err := formsign.Sign(q, c.creds.Signer(string(p), at))
	if err != nil {
		return "", err
	}
	return c.base + string(p) + "?" + signed.Encode(), nil
}

// OpenPage opens a contract's browser page as a browser opens its signed
// link, but with the cloud-market signature a browser cannot send (the
// gateway asks every request for it), and streams it to consume. extra are
// parameters the page takes besides the signed ones (none of
// app_id, v, timestamp, contract_id, msg_digest). A reply that is Fadada's
// JSON envelope (an unknown contract: KindNotFound) is its error and never
// reaches consume, nor does a download that is not a file. It is sent once
// (NoRetry): bytes already handed on cannot be taken back, and a person
// waiting is better served by an answer now than by a back-off. consume
// sees the bytes as they come: nothing is read ahead but the first 512
// bytes, which tell a page from an error.
func (c *Client) OpenPage(ctx context.Context, p Page, contractID string, extra url.Values, consume PageConsumer) error {
	if p != PageView && p != PageDownload {
		return fmt.Errorf("fadada: %q is not a browser page", p)
	}
	link, err := c.link(p, contractID, extra, c.now().In(c.china))
	if err != nil {
		return err
	}
	return c.caller.ReadStream(ctx, string(p), vendorcall.NoRetry,
		func() (*http.Request, error) { return http.NewRequest(http.MethodGet, link, nil) },
		func(h http.Header, body io.Reader) error {
			head, rest, err := sniff(body)
			if err != nil {
				return err
			}
			info := PageInfo{ContentType: mediaType(h.Get("Content-Type")), ContentLength: contentLength(h)}
			if p == PageDownload {
				info.ContentType = fileType(h.Get("Content-Type"), head)
			} else if t := bytes.TrimSpace(head); len(t) > 0 && t[0] == '{' {
				// A page is never JSON: this is the vendor's refusal.
				info.ContentType = ""
			}
			if info.ContentType == "" {
				return replyError(string(p), rest)
			}
			return consume(info, rest)
		})
}

// OpenAsset fetches what a view page refers to by a relative reference:
// relPath (unescaped segments, relative to the API root, as a browser
// resolves a reference in a page served from it) with rawQuery, signed for
// the gateway, streamed to consume as it comes, sent once. It never opens an
// endpoint of the API (a path with ".api" in it): those are OpenPage's,
// signed for one contract.
func (c *Client) OpenAsset(ctx context.Context, relPath, rawQuery string, consume PageConsumer) error {
	segments := strings.Split(relPath, "/")
	for i, s := range segments {
		if s == "" || s == "." || s == ".." || strings.Contains(strings.ToLower(s), ".api") {
			return &vendorerr.Error{Kind: vendorerr.KindUnsendable, Vendor: Vendor, Endpoint: EndpointPageAsset,
				Message: "not a page asset: " + strconv.Quote(relPath)}
		}
		segments[i] = url.PathEscape(s)
	}
	target := c.base + "/" + strings.Join(segments, "/")
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	return c.caller.ReadStream(ctx, EndpointPageAsset, vendorcall.NoRetry,
		func() (*http.Request, error) { return http.NewRequest(http.MethodGet, target, nil) },
		func(h http.Header, body io.Reader) error {
			return consume(PageInfo{ContentType: mediaType(h.Get("Content-Type")), ContentLength: contentLength(h)}, body)
		})
}

// sniffBytes is how much of a reply is read before it is handed on, to
// tell a file or page from the vendor's error reply.
const sniffBytes = 512

// sniff reads the first sniffBytes of body (fewer when it is shorter) and
// returns them, and body again from its start.
func sniff(body io.Reader) ([]byte, io.Reader, error) {
	head := make([]byte, sniffBytes)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil, err
	}
	head = head[:n]
	return head, io.MultiReader(bytes.NewReader(head), body), nil
}

// replyError is the error of a reply that should have been a file or a
// page and is not: the vendor's refusal when it is one of its envelopes,
// else an unreadable reply.
func replyError(endpoint string, body io.Reader) error {
	reply, err := io.ReadAll(io.LimitReader(body, 64<<10))
	if err != nil {
		return err
	}
	_, err = decode(endpoint, reply, nil)
	if err == nil {
		err = errors.New("the reply is neither a file nor an error")
	}
	if _, ok := vendorerr.As(err); !ok {
		err = &vendorerr.Error{Kind: vendorerr.KindUnreadable, Vendor: Vendor, Endpoint: endpoint,
			Message: "the reply is neither a file nor an error Fadada documents", Err: err}
	}
	return err
}

// mediaType is a Content-Type header made safe to send on: the vendor's
// media type and parameters as mime formats them, or
// application/octet-stream when it is missing or malformed.
func mediaType(header string) string {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return "application/octet-stream"
	}
	if s := mime.FormatMediaType(mt, params); s != "" {
		return s
	}
	return "application/octet-stream"
}

// contentLength is the Content-Length header, or -1.
func contentLength(h http.Header) int64 {
	n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
