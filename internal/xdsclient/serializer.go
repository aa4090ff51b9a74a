package xdsclient

import "sync"

// watchEntry is one registration of a watcher. Its cancelled flag is guarded
// by the serializer's mutex, so that a callback either starts before the
// cancel that sets it, or never.
type watchEntry struct {
	cancelled bool
}

// callback is one queued call of a watcher: fn runs it; skip (which may be
// nil) runs instead when the watch was cancelled or the client closed, to
// release the flow control the call would have released.
type callback struct {
	entry *watchEntry
	fn    func()
	skip  func()
}

// serializer runs callbacks one at a time, in the order they were queued, on
// its own goroutine. Queuing never blocks. Its queue is unbounded in
// principle; flow control (one response in flight) keeps it short.
type serializer struct {
	mu      sync.Mutex
	queue   []callback
	closed  bool
	wake    chan struct{}
	stopped chan struct{}
}

func newSerializer() *serializer {
	s := &serializer{wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go s.run()
	return s
}

// schedule queues cb. After close, cb's skip runs at once instead.
func (s *serializer) schedule(cb callback) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if cb.skip != nil {
			cb.skip()
		}
		return
	}
	s.queue = append(s.queue, cb)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// cancel marks e so that none of its queued callbacks starts from now on.
func (s *serializer) cancel(e *watchEntry) {
	s.mu.Lock()
	e.cancelled = true
	s.mu.Unlock()
}

func (s *serializer) run() {
	defer close(s.stopped)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if s.closed {
			q := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, cb := range q {
				if cb.skip != nil {
					cb.skip()
				}
			}
			return
		}
		cb := s.queue[0]
		s.queue[0] = callback{}
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil // let the backing array go
		}
		cancelled := cb.entry != nil && cb.entry.cancelled
		s.mu.Unlock()
		if cancelled {
			if cb.skip != nil {
				cb.skip()
			}
			continue
		}
		cb.fn()
	}
}

// close drops what is queued (running skips) and waits for the callback in
// progress, if any, to return. It must not be called from a callback.
func (s *serializer) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.stopped
}
