package logging

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"google.golang.org/grpc/grpclog"
)

// GRPC is a grpclog.LoggerV2 that writes grpc-go's and grpc-gateway's own
// lines through log, as JSON with "component": "grpc", instead of their
// plain-text default on stderr: errors and warnings at their level, the
// chatty info lines at debug. A service installs it once, in main, before
// any gRPC call (grpclog.SetLoggerV2 is process-wide).
func GRPC(log *slog.Logger) grpclog.LoggerV2 {
	return grpcLogger{log: log.With("component", "grpc")}
}

type grpcLogger struct{ log *slog.Logger }

func (g grpcLogger) write(level slog.Level, msg string) {
	g.log.Log(context.Background(), level, msg)
}

func (g grpcLogger) Info(args ...any)   { g.write(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any) { g.write(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infof(format string, args ...any) {
	g.write(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Warning(args ...any)   { g.write(slog.LevelWarn, fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any) { g.write(slog.LevelWarn, fmt.Sprint(args...)) }
func (g grpcLogger) Warningf(format string, args ...any) {
	g.write(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Error(args ...any)   { g.write(slog.LevelError, fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any) { g.write(slog.LevelError, fmt.Sprint(args...)) }
func (g grpcLogger) Errorf(format string, args ...any) {
	g.write(slog.LevelError, fmt.Sprintf(format, args...))
}

// Fatal and its forms log and exit, as grpclog's contract says.
func (g grpcLogger) Fatal(args ...any) { g.write(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any) {
	g.write(slog.LevelError, fmt.Sprint(args...))
	os.Exit(1)
}
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.write(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether verbosity level l is logged: only 0, and only when
// the logger writes debug lines.
func (g grpcLogger) V(l int) bool {
	return l <= 0 && g.log.Enabled(context.Background(), slog.LevelDebug)
}
