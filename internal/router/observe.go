package router

import (
	"sync"
	"sync/atomic"

	"github.com/switchyard-go/switchyard/route"
)

// Observers is a set of functions told of every forwarded request. Its zero
// value is empty and costs one atomic load per request.
type Observers struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*func(route.Observation)]
}

// Add subscribes f and returns a function that unsubscribes it.
func (o *Observers) Add(f func(route.Observation)) (remove func()) {
	p := &f
	o.mu.Lock()
	defer o.mu.Unlock()
	var next []*func(route.Observation)
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
		var kept []*func(route.Observation)
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

func (o *Observers) notify(obs route.Observation) {
	for _, f := range *o.list.Load() {
		(*f)(obs)
	}
}
