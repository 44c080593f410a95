package serve

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
)

// drainGrace is how long the server goes on reading what is left of a
// request body after the REST face has answered without it: long enough
// for a client still sending to finish and read the answer (closing a
// connection with bytes unread resets it, and the reset can destroy the
// answer before the client reads it), short enough that a stalled client
// loses its connection within a second of its answer, net/http's own half
// second after a body over its limit included.
const drainGrace = 250 * time.Millisecond

// letGo bounds how long net/http waits for the rest of a body the REST face
// has refused or given up on. Once the handler returns, net/http reads up
// to 256 KiB of what is left of the body, to reuse the connection or to
// close it cleanly; with no read deadline it waits as long as the client
// stalls, so that a client told 408 or 413 would keep the connection and
// its goroutine for as long as it liked.
func letGo(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(drainGrace))
}

// bodyTimedOut is the REST face's answer to a body that did not arrive
// within the body read timeout, received bytes of it having come.
func (f *restFace) bodyTimedOut(received int64) *status.Status {
	return rpcstatus.Refused(codes.DeadlineExceeded, f.domain, rpcstatus.ReasonRequestTimeout,
		fmt.Sprintf("the request body did not arrive within %s (%d bytes came)", f.readTimeout, received),
		map[string]string{"received_bytes": strconv.FormatInt(received, 10)})
}
