module github.com/accelnet/accel

go 1.26.0

require (
	github.com/cilium/ebpf v0.22.0
	go.uber.org/multierr v1.10.0
	go.uber.org/zap v1.28.0
	golang.org/x/sys v0.49.0
)
