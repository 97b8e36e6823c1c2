package config

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the logger the configuration asks for: at level
// ACCEL_LOG, to ACCEL_LOG_FILE or else stderr. It never writes to stdout,
// which belongs to the program accel runs in.
func NewLogger(c *Config) (*zap.Logger, error) {
	if c.Log == "off" {
		return zap.NewNop(), nil
	}
	level, err := zapcore.ParseLevel(c.Log)
	if err != nil {
		return nil, fmt.Errorf("ACCEL_LOG=%q: %w", c.Log, err)
	}
	out := zapcore.Lock(os.Stderr)
	if c.LogFile != "" {
		f, err := os.OpenFile(c.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("ACCEL_LOG_FILE=%q: open: %w", c.LogFile, err)
		}
		out = zapcore.Lock(f)
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), out, level)
	return zap.New(core).Named("accel").With(zap.Int("pid", os.Getpid())), nil
}
