package route

import (
	"sync"
	"sync/atomic"
	"time"
)

// Observation is the outcome of one forwarded request, for observers such
// as a rollout controller.
type Observation struct {
	// Host and Subset name the destination the request was sent to.
	Host, Subset string
	// Status is the status the caller got (a local reply's included); 0
	// when the request ended in an error.
	Status int
	// Failed is true for a 5xx or an error.
	Failed bool
	// Latency is the time to the response headers.
	Latency time.Duration
}

// Observers is a set of functions told of every forwarded request. Its zero
// value is empty and costs one atomic load per request.
type Observers struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*func(Observation)]
}

// Add subscribes f and returns a function that unsubscribes it.
func (o *Observers) Add(f func(Observation)) (remove func()) {
	p := &f
	o.mu.Lock()
	defer o.mu.Unlock()
	var next []*func(Observation)
	if cur := o.list.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, p)
	o.list.Store(&next)
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		cur := o.list.Load()
		if cur == nil {
			return
		}
		var kept []*func(Observation)
		for _, q := range *cur {
			if q != p {
				kept = append(kept, q)
			}
		}
		o.list.Store(&kept)
	}
}

func (o *Observers) active() bool {
	if o == nil {
		return false
	}
	l := o.list.Load()
	return l != nil && len(*l) > 0
}

func (o *Observers) notify(obs Observation) {
	for _, f := range *o.list.Load() {
		(*f)(obs)
	}
}
