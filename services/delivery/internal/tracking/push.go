package tracking

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"

	"golang.org/x/time/rate"

	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// The outcome label values of the push metric.
const (
	outcomeAccepted     = "accepted"
	outcomeUnknownToken = "unknown_token"
	// outcomeSourceThrottled: a source that sent too many unknown tokens,
	// turned away before any lookup.
	outcomeSourceThrottled = "source_throttled"
	outcomeRateLimited     = "rate_limited"
	outcomeTooLarge        = "too_large"
	outcomeVendorError     = "vendor_error"
	outcomeStoreError      = "store_error"
)

// Handler serves the vendor's status pushes at CallbackPath, for the
// callback listener.
func (t *Tracker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(CallbackPath, t.servePush)
	return mux
}

// servePush checks a push in this order: the token names an order (else it
// is refused, counted, and nothing is read); the order is within its push
// rate; the body is within its size limit and is stored as sent; the order
// is read back from the vendor and an event recorded when its status
// changed.
func (t *Tracker) servePush(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if d := t.strangers.Throttled(r.RemoteAddr); d > 0 {
		// This source sent too many unknown tokens: turned away before
		// the store is asked about another one.
		t.pushes.WithLabelValues(outcomeSourceThrottled).Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
		return
	}
	token := r.PathValue("token")
	originID := ""
	if validToken(token) {
		id, err := t.st.OrderByToken(ctx, token)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			t.refuse(w, http.StatusInternalServerError, outcomeStoreError, "")
			t.opts.Logger.Error("tracking: look up callback token", "err", err)
			return
		default:
			originID = id
		}
	}
	if originID == "" {
		t.pushes.WithLabelValues(outcomeUnknownToken).Inc()
		if v := t.strangers.Note(r.RemoteAddr); v.Log {
			t.opts.Logger.Info("tracking: push refused", "outcome", outcomeUnknownToken, "source", r.RemoteAddr,
				"status", http.StatusNotFound, "suppressed", v.Suppressed)
		}
		http.Error(w, http.StatusText(http.StatusNotFound), http.StatusNotFound)
		return
	}
	if lim := t.limiter(originID); !lim.AllowN(t.opts.Now(), 1) {
		t.refreshLater(originID, lim)
		t.refuse(w, http.StatusTooManyRequests, outcomeRateLimited, originID)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, t.opts.MaxPushBytes))
	if err != nil {
		t.refuse(w, http.StatusRequestEntityTooLarge, outcomeTooLarge, originID)
		return
	}
	if err := t.st.SavePush(ctx, store.Push{OriginID: originID, ContentType: r.Header.Get("Content-Type"),
		Payload: body, ReceivedAt: t.opts.Now()}); err != nil {
		t.opts.Logger.Error("tracking: store push", "origin_id", originID, "err", err)
		t.refuse(w, http.StatusInternalServerError, outcomeStoreError, originID)
		return
	}
	if _, err := t.Refresh(ctx, originID, store.SourcePush); err != nil {
		t.opts.Logger.Warn("tracking: read back pushed order", "origin_id", originID, "err", err)
		t.refuse(w, http.StatusBadGateway, outcomeVendorError, originID)
		return
	}
	t.pushes.WithLabelValues(outcomeAccepted).Inc()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"code":1,"msg":"ok"}`)
}

func (t *Tracker) refuse(w http.ResponseWriter, status int, outcome, originID string) {
	t.pushes.WithLabelValues(outcome).Inc()
	t.opts.Logger.Info("tracking: push refused", "outcome", outcome, "origin_id", originID, "status", status)
	http.Error(w, http.StatusText(status), status)
}

// limiter returns originID's push limiter. The limiters are per replica;
// past maxLimiters they are all forgotten at once, which only ever lets
// more pushes through.
func (t *Tracker) limiter(originID string) *rate.Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	lim := t.limiters[originID]
	if lim == nil {
		if len(t.limiters) >= maxLimiters {
			clear(t.limiters)
		}
		lim = rate.NewLimiter(t.opts.PushRate, t.opts.PushBurst)
		t.limiters[originID] = lim
	}
	return lim
}

// refreshLater reads originID once its limiter allows, so that the last of
// a burst of refused pushes is not lost; one such read waits per order.
func (t *Tracker) refreshLater(originID string, lim *rate.Limiter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.trailing[originID] {
		return
	}
	t.trailing[originID] = true
	go func() {
		defer func() {
			t.mu.Lock()
			delete(t.trailing, originID)
			t.mu.Unlock()
		}()
		// The limiter runs on the tracker's clock, so that tests drive it.
		now := t.opts.Now()
		r := lim.ReserveN(now, 1)
		if !r.OK() {
			return
		}
		select {
		case <-t.ctx.Done():
			r.CancelAt(t.opts.Now())
			return
		case <-t.opts.After(r.DelayFrom(now)):
		}
		if _, err := t.Refresh(t.ctx, originID, store.SourcePush); err != nil && t.ctx.Err() == nil {
			t.opts.Logger.Warn("tracking: read back rate-limited order", "origin_id", originID, "err", err)
		}
	}()
}
