package dingdangsim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Run advances order statuses on a ticker, posting their callbacks, until
// ctx ends. Without Run, statuses still advance whenever a request arrives.
func (s *Simulator) Run(ctx context.Context) {
	t := time.NewTicker(min(max(s.step/4, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.advance()
		}
	}
}

// pendingCallback is the status pushes of one order, posted in order.
type pendingCallback struct {
	url   string
	forms []url.Values
}

// advance brings every order up to the clock and posts the callbacks.
func (s *Simulator) advance() {
	now := s.now()
	var pending []pendingCallback
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.orderIDs {
		o := s.orders[id]
		if forms := o.advance(now, s.step); len(forms) > 0 && o.callback != "" {
			pending = append(pending, pendingCallback{url: o.callback, forms: forms})
		}
	}
	s.enqueueLocked(pending)
}

// enqueueLocked queues the batches for the callback workers, starting workers
// as needed (at most maxWorkers). It is called under the same lock as the
// status change, so the queue follows the order of the changes. A batch that
// would overflow the queue is recorded as dropped instead of growing memory
// without bound.
func (s *Simulator) enqueueLocked(batches []pendingCallback) {
	for _, b := range batches {
		if s.queuedForms+len(b.forms) > maxQueuedCallbacks {
			for _, f := range b.forms {
				s.recordLocked(Callback{URL: b.url, Form: f, Err: "dingdangsim: callback queue full, dropped"})
			}
			continue
		}
		s.queue = append(s.queue, b)
		s.queuedForms += len(b.forms)
	}
	for s.workers < maxWorkers && s.workers < len(s.queue) {
		if s.workers == 0 {
			s.idle = make(chan struct{})
		}
		s.workers++
		go s.work()
	}
}

// work posts queued batches, each batch's forms in order, until the queue is empty.
func (s *Simulator) work() {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.workers--
			if s.workers == 0 {
				close(s.idle)
			}
			s.mu.Unlock()
			return
		}
		b := s.queue[0]
		s.queue[0] = pendingCallback{}
		s.queue = s.queue[1:]
		s.queuedForms -= len(b.forms)
		s.mu.Unlock()
		for _, f := range b.forms {
			s.post(b.url, f)
		}
	}
}

// post sends one callback, bounded by the client's timeout, and records it.
func (s *Simulator) post(target string, form url.Values) {
	cb := Callback{URL: target, Form: form}
	ctx, cancel := context.WithTimeout(context.Background(), s.cbTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err == nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		var resp *http.Response
		resp, err = s.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			cb.Status = resp.StatusCode
		}
	}
	if err != nil {
		cb.Err = err.Error()
	}
	s.log.Debug("dingdangsim: callback posted", "origin_id", form.Get("origin_id"),
		"order_status", form.Get("order_status"), "status", cb.Status, "err", cb.Err)
	s.record(cb)
}

func (s *Simulator) record(cb Callback) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(cb)
}

func (s *Simulator) recordLocked(cb Callback) {
	if len(s.callbacks) >= maxCallbackLog {
		s.callbacks = append(s.callbacks[:0], s.callbacks[len(s.callbacks)-maxCallbackLog+1:]...)
	}
	s.callbacks = append(s.callbacks, cb)
}
