// Package formsign builds vendor request bodies whose signature covers form
// fields rather than headers, such as Fadada's msg_digest and 30post's MD5
// sign. It is vendor-neutral: the vendor package supplies the Signer, which
// knows its algorithm, its secret and which fields it covers; formsign runs
// it over the fields and encodes the signed form, url-encoded or as a
// streamed multipart body.
//
// A signed form is sent through internal/vendorcall like any other body:
//
//	req, err := formsign.NewRequest(http.MethodPost, base+"/deduction", form, post30.Sign(ak, sk, now))
//	err = caller.Mutate(ctx, "/deduction", req, decodeReply)
//
// and a file upload streams the file while the transport reads it, so a
// large file passes with bounded memory:
//
//	req, err := formsign.NewMultipartRequest(http.MethodPost, base+"/uploaddocs.api", form,
//		[]formsign.File{{Field: "file", Name: "contract.pdf", ContentType: "application/pdf", Content: f}},
//		fadada.Sign(appID, secret, "uploaddocs", now))
//	err = caller.Mutate(ctx, "/uploaddocs.api", req, decodeReply)
package formsign

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// Signer adds a vendor's signature to form: it computes the signature over
// the fields already there and sets the signature field (e.g. msg_digest,
// sign), adding any field the signature also covers (e.g. app_id,
// timestamp). It must not log or return the secret.
type Signer func(form url.Values) error

// Sign returns a signed copy of form; form itself is not modified. A nil
// sign returns an unsigned copy.
func Sign(form url.Values, sign Signer) (url.Values, error) {
	out := make(url.Values, len(form)+2)
	for k, v := range form {
		out[k] = slices.Clone(v)
	}
	if sign == nil {
		return out, nil
	}
	if err := sign(out); err != nil {
		return nil, fmt.Errorf("formsign: %w", err)
	}
	return out, nil
}

// NewRequest returns a request whose body is form, signed and url-encoded
// (application/x-www-form-urlencoded).
func NewRequest(method, url string, form url.Values, sign Signer) (*http.Request, error) {
	signed, err := Sign(form, sign)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, url, strings.NewReader(signed.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// File is one file part of a multipart body.
type File struct {
	// Field is the form field that carries the file, e.g. "file".
	Field string
	// Name is the file name sent in the part's Content-Disposition.
	Name string
	// ContentType is the part's type; empty means application/octet-stream.
	ContentType string
	// Content is read once, while the request is sent; formsign does not
	// close it.
	Content io.Reader
}

// NewMultipartRequest returns a request with a multipart/form-data body:
// form, signed (the signature covers the fields, never the file bytes),
// then files. The body is written through an io.Pipe as the transport
// reads it, so memory stays bounded whatever the files' size; it can be
// read once (send it with vendorcall's Mutate, or build it afresh for each
// attempt of a Read). The length is unknown, so it goes out chunked.
// Closing the body without reading it (a call refused before sending)
// ends the writer.
func NewMultipartRequest(method, url string, form url.Values, files []File, sign Signer) (*http.Request, error) {
	signed, err := Sign(form, sign)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Field == "" || f.Content == nil {
			return nil, errors.New("formsign: a file needs a field name and content")
		}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req, err := http.NewRequest(method, url, pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	go func() {
		pw.CloseWithError(writeMultipart(mw, signed, files))
	}()
	return req, nil
}

// writeMultipart writes the fields in key order, then the files, then the
// closing boundary.
func writeMultipart(mw *multipart.Writer, form url.Values, files []File) error {
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range form[k] {
			if err := mw.WriteField(k, v); err != nil {
				return err
			}
		}
	}
	for _, f := range files {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, escapeQuotes(f.Field), escapeQuotes(f.Name)))
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		part, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if _, err := io.Copy(part, f.Content); err != nil {
			return err
		}
	}
	return mw.Close()
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// escapeQuotes escapes a Content-Disposition parameter as mime/multipart does.
func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }
