// Package sandbox runs an in-repo vendor simulator on a loopback listener for
// a service started with SANDBOX=1, with freshly generated credentials.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Vendor is a running simulator.
type Vendor struct {
	// BaseURL is the simulator's root, e.g. "http://127.0.0.1:40123".
	BaseURL string
	// SecretID and SecretKey are the generated credentials it accepts.
	SecretID, SecretKey string
	srv                 *http.Server
	done                chan error
}

// NewCredentials returns a random secret id and key for a simulator.
func NewCredentials() (id, key string, err error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("sandbox: credentials: %w", err)
	}
	return "sandbox-" + hex.EncodeToString(b[:8]), hex.EncodeToString(b[8:]), nil
}

// Start serves handler on 127.0.0.1 at a free port until ctx ends or Close.
func Start(ctx context.Context, handler http.Handler, id, key string) (*Vendor, error) {
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	v := &Vendor{
		BaseURL:   "http://" + lis.Addr().String(),
		SecretID:  id,
		SecretKey: key,
		srv:       &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second},
		done:      make(chan error, 1),
	}
	go func() {
		err := v.srv.Serve(lis)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		v.done <- err
	}()
	go func() {
		<-ctx.Done()
		_ = v.Close()
	}()
	return v, nil
}

// Close stops the simulator's server.
func (v *Vendor) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return v.srv.Shutdown(ctx)
}
