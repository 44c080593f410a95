package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Flow-control windows. grpc-go grows a connection's windows up to 16 MiB
// per stream when left to itself (BDP estimation); fixed windows bound
// what one stream buffers ahead of its reader.
const (
	// serverStreamWindow is how much of an upload the server buffers per
	// stream ahead of its handler.
	serverStreamWindow = 1 << 20
	// serverConnWindow is the most unacknowledged data on a connection;
	// grpc-go acknowledges connection-level data on receipt, so a stalled
	// stream does not hold the others back.
	serverConnWindow = 4 << 20
)

// Keepalive: how often a client may ping, and how the server finds dead or
// idle connections.
const (
	// keepaliveMinTime is the shortest ping interval a client may use; one
	// that pings more often (or pings with no call open) is sent GOAWAY
	// ENHANCE_YOUR_CALM.
	keepaliveMinTime = 20 * time.Second
	// maxConnectionIdle closes a connection with no call open for this
	// long; clients reconnect when they need to.
	maxConnectionIdle = 5 * time.Minute
	// keepaliveTime and keepaliveTimeout: the server pings a connection
	// quiet for keepaliveTime and closes it when the ping is not answered
	// within keepaliveTimeout, so that a vanished client's streams (a
	// health Watch) do not stay open.
	keepaliveTime    = time.Minute
	keepaliveTimeout = 20 * time.Second
)

// bufferPool is the pool of the buffers gRPC marshals and reads messages
// into. grpc-go's default pool jumps from 32 KiB to 1 MiB, so that a
// stream of 33 KiB or 64 KiB chunks (esign's downloads) holds a 1 MiB
// buffer for each message queued behind a slow reader; power-of-two tiers
// up to 1 MiB waste at most half of each buffer.
func bufferPool() mem.BufferPool {
	pool, err := mem.NewBinaryTieredBufferPool(8, 12, 14, 15, 16, 17, 18, 19, 20)
	if err != nil {
		// The exponents are constants that grpc-go accepts.
		return mem.DefaultBufferPool()
	}
	return pool
}

// connectionLimits are the gRPC server options that bound what one
// connection holds: keepalive enforcement, fixed flow-control windows and
// finely tiered message buffers. The per-connection stream cap is added
// to the callers' server only.
func connectionLimits() []grpc.ServerOption {
	return []grpc.ServerOption{
		experimental.BufferPool(bufferPool()),
		grpc.ForceServerCodecV2(newProtoCodec()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: false}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: maxConnectionIdle, Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.InitialWindowSize(serverStreamWindow),
		grpc.InitialConnWindowSize(serverConnWindow),
		// Calls run on long-lived workers, whose stacks have grown to what
		// a call needs, instead of a new goroutine each, whose stack grew
		// and was copied on every call (runtime.copystack was ~4 % of a
		// GetOrder's CPU). A call that finds every worker busy gets a
		// goroutine of its own, as before.
		grpc.NumStreamWorkers(uint32(4 * runtime.GOMAXPROCS(0))),
	}
}

// listenMetrics opens the metrics listener: on METRICS_ADDR when it is set
// (an error if it cannot), else on opts.DefaultMetricsAddr (logged and
// skipped if it cannot: another process on the host holds it). It opens
// none for "off" or when neither is set, and reports onAPIPort when
// METRICS_ADDR names the API listener's own address.
func listenMetrics(ctx context.Context, opts Options, api net.Addr, log *slog.Logger) (lis net.Listener, onAPIPort bool, err error) {
	addr, explicit := opts.REST.MetricsAddr, opts.REST.MetricsAddr != ""
	if !explicit {
		addr = opts.DefaultMetricsAddr
	}
	switch {
	case addr == "":
		log.InfoContext(ctx, "metrics not served: set METRICS_ADDR (e.g. 127.0.0.1:9091) to serve /metrics")
		return nil, false, nil
	case strings.EqualFold(addr, MetricsOff):
		return nil, false, nil
	case explicit && (strings.EqualFold(addr, MetricsOnAPI) || sameAddr(addr, api)):
		return nil, true, nil
	}
	lis, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	switch {
	case err == nil:
		return lis, false, nil
	case explicit:
		return nil, false, fmt.Errorf("serve: listen on METRICS_ADDR %s: %w", addr, err)
	case errors.Is(err, syscall.EADDRINUSE):
		log.WarnContext(ctx, "metrics not served: the default metrics address is taken (another process on this host?); set METRICS_ADDR", "address", addr)
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("serve: listen on the default metrics address %s (set METRICS_ADDR to change it): %w", addr, err)
	}
}

// sameAddr reports whether addr ("host:port") names the listener at api:
// the same port, and the same host or both any address.
func sameAddr(addr string, api net.Addr) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	apiHost, apiPort, err := net.SplitHostPort(api.String())
	if err != nil || port != apiPort {
		return false
	}
	norm := func(h string) string {
		a, err := netip.ParseAddr(h)
		switch {
		case h == "":
			return "any"
		case err != nil:
			return strings.ToLower(h)
		case a.IsUnspecified():
			return "any"
		}
		return a.Unmap().String()
	}
	return norm(host) == norm(apiHost)
}

// protoCodec is grpc-go's proto codec marshaling into a pool of its own:
// grpc-go's marshals into mem.DefaultBufferPool whatever the server's
// BufferPool option says, so that every queued message of 32 KiB to 1 MiB
// holds a 1 MiB buffer (see bufferPool). Unmarshaling is grpc-go's.
type protoCodec struct {
	pool mem.BufferPool
	std  encoding.CodecV2
}

func newProtoCodec() protoCodec {
	return protoCodec{pool: bufferPool(), std: encoding.GetCodecV2(grpcproto.Name)}
}

func (c protoCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return c.std.Marshal(v)
	}
	size := proto.Size(m)
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := c.pool.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		c.pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, c.pool)}, nil
}

func (c protoCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.std.Unmarshal(data, v) }

func (c protoCodec) Name() string { return grpcproto.Name }
