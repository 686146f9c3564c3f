package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	"go.uber.org/zap/zapcore"
)

// ParseLevel reads a log level name: debug, info, warn (or warning), error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
}

// NewLogHandler builds the slog handler for cfg writing to w: JSON, or text when
// cfg.Format is "text" or "auto" and isTerminal says w is a terminal. Level filtering
// happens in the handler, so Logger() children inherit it.
func NewLogHandler(w io.Writer, cfg LogConfig, isTerminal bool) (slog.Handler, error) {
	level, err := ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" || (cfg.Format == "auto" && isTerminal) {
		return slog.NewTextHandler(w, opts), nil
	}
	return slog.NewJSONHandler(w, opts), nil
}

// RouteLibraryLogs sends go-libp2p's logs (gologshim, slog based) and kad-dht's
// logs (ipfs/go-log, zap based) into base with subsystem="libp2p", filtered at
// level. It changes process-wide state in those libraries, so only a program's
// main should call it, once, before the first host is created.
//
// Why: both libraries otherwise write their own format to stderr at their own
// levels (go-libp2p defaults to info, which is chatty), interleaved with ours.
func RouteLibraryLogs(base slog.Handler, level slog.Level) {
	h := &minLevelHandler{Handler: base.WithAttrs([]slog.Attr{slog.String("subsystem", "libp2p")}), min: level}
	gologshim.SetDefaultHandler(h)
	golog.SetPrimaryCore(&slogCore{handler: h, level: level})
	golog.SetAllLoggers(golog.LogLevel(zapLevel(level)))
	if level >= slog.LevelWarn {
		// kad-dht warns on every refresh that finds its table empty, which is the normal
		// state of a first node waiting for others to join; keep real errors only.
		_ = golog.SetLogLevel("dht/RtRefreshManager", "error")
	}
}

// minLevelHandler raises the level of a handler: records below min are dropped.
type minLevelHandler struct {
	slog.Handler
	min slog.Level
}

func (h *minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h *minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &minLevelHandler{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h *minLevelHandler) WithGroup(name string) slog.Handler {
	return &minLevelHandler{Handler: h.Handler.WithGroup(name), min: h.min}
}

// slogCore is a zapcore.Core that forwards go-log's zap entries to an slog handler,
// so kad-dht's logs come out in the same format as everything else.
type slogCore struct {
	handler slog.Handler
	level   slog.Level
	fields  []zapcore.Field
}

var _ zapcore.Core = (*slogCore)(nil)

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return slogLevel(l) >= c.level }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{handler: c.handler, level: c.level, fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	rec := slog.NewRecord(e.Time, slogLevel(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		rec.AddAttrs(slog.String("logger", e.LoggerName))
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	for k, v := range enc.Fields {
		rec.AddAttrs(slog.Any(k, v))
	}
	return c.handler.Handle(context.Background(), rec)
}

func (c *slogCore) Sync() error { return nil }
