package gossip

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
)

// memberlistLogWriter turns memberlist's *log.Logger output ("[WARN] memberlist: ...")
// into slog records: DEBUG and INFO become Debug (memberlist is chatty, and we log
// the membership changes that matter ourselves at Info), WARN and ERR become Warn.
type memberlistLogWriter struct {
	logger *slog.Logger
	// onLine, if set, sees every message (without its level prefix) before it is
	// logged; Gossip uses it to notice local suspicions (see noteSuspicion).
	onLine func(msg string)
}

func newMemberlistLogger(logger *slog.Logger, onLine func(string)) *log.Logger {
	return log.New(&memberlistLogWriter{logger: logger, onLine: onLine}, "", 0)
}

func (w *memberlistLogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte{'\n'}) {
		w.line(string(line))
	}
	return len(p), nil
}

func (w *memberlistLogWriter) line(s string) {
	level := slog.LevelDebug
	msg := s
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end > 0 {
			switch s[1:end] {
			case "WARN", "ERR", "ERROR":
				level = slog.LevelWarn
			}
			msg = strings.TrimSpace(s[end+1:])
		}
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	if w.onLine != nil {
		w.onLine(msg)
	}
	if w.logger.Enabled(context.Background(), level) {
		w.logger.Log(context.Background(), level, msg, "source", "memberlist")
	}
}

// discardLogger is used when Config.Logger is nil.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}
