package fault

import "time"

// Config is Istio's HTTPFaultInjection: a delay and/or an abort, each drawn
// independently for every request.
type Config struct {
	// Delay postpones forwarding the request.
	Delay *Delay `json:"delay,omitempty"`
	// Abort answers the request without forwarding it.
	Abort *Abort `json:"abort,omitempty"`
}

// Delay is Istio's HTTPFaultInjection.Delay.
type Delay struct {
	// FixedDelay is how long to wait before forwarding; at least 1ms.
	FixedDelay time.Duration `json:"fixedDelay,omitempty"`
	// Percentage of requests delayed. Absent means none, as in Istio.
	Percentage *Percent `json:"percentage,omitempty"`
	// Percent is the deprecated integer form of Percentage, used only when
	// Percentage is absent.
	Percent int32 `json:"percent,omitempty"`
}

// Abort is Istio's HTTPFaultInjection.Abort.
type Abort struct {
	// HTTPStatus is the status to answer with, 200–599.
	HTTPStatus int32 `json:"httpStatus,omitempty"`
	// GRPCStatus is the gRPC status code name to answer with, such as
	// "UNAVAILABLE".
	GRPCStatus string `json:"grpcStatus,omitempty"`
	// Percentage of requests aborted. Absent means none, as in Istio.
	Percentage *Percent `json:"percentage,omitempty"`
}

// Percent is Istio's Percent: a value from 0 to 100.
type Percent struct {
	// Value is the percentage, 0–100.
	Value float64 `json:"value"`
}
