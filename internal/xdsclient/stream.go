package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/cenkalti/backoff/v4"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// adsStream is the client's side of one ADS stream.
type adsStream struct {
	wake  chan struct{} // capacity 1: requests are pending
	first bool          // the next request is the stream's first: it carries the node
}

func (s *adsStream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run keeps a stream up until Close, backing off after failed attempts.
func (c *Client) run() {
	defer close(c.runDone)
	bo := c.newBackoff()
	bo.Reset()
	for {
		var received bool
		if c.sotw.Load() {
			received = c.runStream()
		} else {
			var refused bool
			received, refused = c.runDeltaStream()
			if refused && c.ctx.Err() == nil {
				// A State-of-the-World-only server: not a failure.
				c.sotw.Store(true)
				continue
			}
		}
		if c.ctx.Err() != nil {
			return
		}
		if received {
			// The server answered on that stream: it is reachable, and the
			// stream may have ended for an ordinary reason. Reconnect now.
			bo.Reset()
			continue
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			bo.Reset()
			d = bo.NextBackOff()
		}
		if clock.Sleep(c.ctx, c.clk, d) != nil {
			return
		}
	}
}

// runStream runs one stream to its end and reports whether the server sent
// anything on it.
func (c *Client) runStream() (received bool) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(c.cc).StreamAggregatedResources(ctx)
	if err != nil {
		c.streamEnded(nil, err, false)
		return false
	}
	st := c.beginStream()
	if st == nil {
		return false
	}

	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		c.send(ctx, cancel, st, stream)
	}()
	err = c.recv(ctx, st, stream, &received)
	cancel()
	<-sendDone
	c.streamEnded(st, err, received)
	return received
}

// beginStream makes a new stream the current one and asks for the requests
// that subscribe to everything wanted; nil if the client is closed.
func (c *Client) beginStream() *adsStream {
	st := &adsStream{wake: make(chan struct{}, 1), first: true}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.stream = st
	if c.sotw.Load() {
		c.memoOnLocked()
	}
	for _, ts := range c.state {
		ts.nonce = ""
		ts.nack = nil
		ts.sent, ts.named = false, false
		ts.answers = nil
		ts.wildOnStream, ts.offStream = false, nil
		for _, rs := range ts.resources {
			rs.onStream = false
		}
		ts.pending = ts.subscribed()
	}
	st.signal()
	return st
}

// subscribed reports whether anything of the type is wanted.
func (ts *typeState) subscribed() bool {
	if len(ts.wildcards) > 0 {
		return true
	}
	for _, rs := range ts.resources {
		if rs.watched() {
			return true
		}
	}
	return false
}

// send writes the requests the state calls for, until the stream ends. It is
// the only writer of the stream.
func (c *Client) send(ctx context.Context, cancel context.CancelFunc, st *adsStream, stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.wake:
		}
		for _, req := range c.requests(st) {
			if err := stream.Send(req); err != nil {
				cancel() // recv sees the stream end
				return
			}
		}
	}
}

// requests builds the pending requests of st, in type order, and starts the
// expiry timers of the resources they name for the first time.
func (c *Client) requests(st *adsStream) []*discoveryv3.DiscoveryRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != st || c.closed {
		return nil
	}
	var reqs []*discoveryv3.DiscoveryRequest
	for _, url := range c.order {
		ts := c.state[url]
		if !ts.pending {
			continue
		}
		ts.pending = false
		wildcard := len(ts.wildcards) > 0
		var names []string
		for name, rs := range ts.resources {
			if rs.watched() {
				names = append(names, name)
			}
		}
		if !ts.sent && !wildcard && len(names) == 0 {
			continue // never asked for on this stream, and nothing wanted now
		}
		sort.Strings(names)
		legacy := false
		switch {
		case wildcard && !ts.named:
			// Legacy wildcard (an empty list on a stream that has named
			// nothing of the type), which every server understands; named
			// resources are part of the wildcard set.
			names, legacy = nil, true
		case wildcard:
			names = append([]string{"*"}, names...)
		}
		req := &discoveryv3.DiscoveryRequest{
			TypeUrl:       url,
			VersionInfo:   ts.version,
			ResponseNonce: ts.nonce,
			ResourceNames: names,
		}
		if ts.nack != nil {
			req.ErrorDetail = &statuspb.Status{Code: int32(code.Code_INVALID_ARGUMENT), Message: ts.nack.Error()}
			ts.nack = nil
		}
		if st.first {
			req.Node = c.node
			st.first = false
		}
		ts.sent = true
		if !legacy {
			ts.named = true
		}
		c.startExpiryLocked(ts)
		reqs = append(reqs, req)
	}
	return reqs
}

// expiry is the expiry timer of the resources of one type that a request
// named for the first time: one timer per request, not per resource (a
// runtime timer each would grow the runtime's timer heaps by thousands at
// a mesh's initial sync, which they keep). It is stopped once none of its
// resources waits any longer.
type expiry struct {
	timer clock.Timer
	rss   []*resourceState // those whose aux.expiry is this one wait
	live  int              // how many wait
}

// startExpiryLocked starts the expiry timer of the watched resources of ts
// not requested yet on the current stream, which the request going out
// names.
func (c *Client) startExpiryLocked(ts *typeState) {
	var e *expiry
	for _, rs := range ts.resources {
		if !rs.watched() || rs.phase != phaseStarted {
			continue
		}
		if e == nil {
			e = &expiry{}
		}
		rs.phase = phaseRequested
		if rs.aux == nil {
			rs.aux = &resourceAux{}
		}
		rs.aux.expiry = e
		e.rss = append(e.rss, rs)
		e.live++
	}
	if e != nil {
		e.timer = c.clk.AfterFunc(c.expiry, func() { c.expire(ts, e) })
	}
}

// stopTimerLocked takes rs out of its expiry timer, if it waits for one,
// stopping the timer if nothing else does.
func (c *Client) stopTimerLocked(rs *resourceState) {
	a := rs.aux
	if a == nil || a.expiry == nil {
		return
	}
	e := a.expiry
	a.expiry = nil
	if e.live--; e.live == 0 {
		e.timer.Stop()
		e.rss = nil
	}
	rs.trimAux()
}

// expire runs when the resources of e have not come within the timeout:
// those still waiting for e do not exist.
func (c *Client) expire(ts *typeState, e *expiry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	rss := e.rss
	e.rss = nil
	for _, rs := range rss {
		// rs waits for e only until it is stopped (received, unwatched,
		// the stream ended), which takes it out.
		if rs.aux == nil || rs.aux.expiry != e || rs.phase != phaseRequested || ts.resources[rs.name] != rs {
			continue
		}
		rs.aux.expiry = nil
		e.live--
		rs.phase = phaseTimedOut
		c.goneLocked(ts, rs.name, rs, nil)
	}
}

// goneLocked makes rs a resource that does not exist (its cache and any
// rejection dropped) and tells its watchers, on fl.
func (c *Client) goneLocked(ts *typeState, name string, rs *resourceState, fl *flow) {
	c.forget(ts, rs)
	rs.cache = nil
	rs.setVersion("")
	rs.setRejection(nil)
	rs.status = StatusDoesNotExist
	c.tellLocked(ts, rs, fl, evError, nil, c.notFound(ts, name, rs))
}

// notFound is the error of a resource in StatusDoesNotExist.
func (c *Client) notFound(ts *typeState, name string, rs *resourceState) error {
	if rs.phase == phaseTimedOut {
		return fmt.Errorf("%w: %s %q: not sent by %s within %v of the request", ErrResourceNotFound, ts.rt.TypeName, name, c.server.URI, c.expiry)
	}
	return fmt.Errorf("%w: %s %q: removed by %s", ErrResourceNotFound, ts.rt.TypeName, name, c.server.URI)
}

// recv reads responses until the stream ends, and returns why it ended.
func (c *Client) recv(ctx context.Context, st *adsStream, stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, received *bool) error {
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		*received = true
		if fl := c.handleResponse(st, resp); fl != nil && !fl.wait(ctx) {
			return ctx.Err()
		}
	}
}

// streamEnded forgets the stream's nonces and pauses the expiry timers of
// what it had requested; when the server never answered, every watcher hears
// that it is unreachable.
func (c *Client) streamEnded(st *adsStream, cause error, received bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if st != nil && c.stream == st {
		c.stream = nil
	}
	c.disconnectedLocked(cause)
	for _, ts := range c.state {
		ts.nonce = ""
		ts.nack = nil
		ts.answers = nil
		ts.pending = false
		for _, rs := range ts.resources {
			if rs.phase == phaseRequested {
				c.stopTimerLocked(rs)
				rs.phase = phaseStarted
			}
		}
	}
	if received {
		return
	}
	err := fmt.Errorf("%w: %s: %v", ErrUnreachable, c.server.URI, cause)
	for _, url := range c.order {
		ts := c.state[url]
		for _, rs := range ts.resources {
			c.tellLocked(ts, rs, nil, invalidKind(rs), nil, err)
		}
		for ww := range ts.wildcards {
			c.schedule(&ww.entry, nil, func(done func()) { ww.w.AmbientError(err, done) })
		}
	}
}

// decoded is one resource of a response.
type decoded struct {
	name   string
	data   ResourceData
	digest digest // of the resource's bytes (inside any envelope)
	err    error
}

// decode decodes every resource of resp. Resources it cannot name are
// reported apart, by position.
func (c *Client) decode(rt ResourceType, resp *discoveryv3.DiscoveryResponse) (named []decoded, unnamed []error) {
	opts := DecodeOptions{Server: c.server}
	set := newDecodedSet(len(resp.GetResources()))
	for i, a := range resp.GetResources() {
		set.add(i, c.decodeResource(rt, a, "", opts))
	}
	return set.named, set.unnamed
}

// decodeResource decodes a, or recalls it from the memo when it is a
// cached resource sent again (hint is the name the response gives it, ""
// if none).
func (c *Client) decodeResource(rt ResourceType, a *anypb.Any, hint string, opts DecodeOptions) decoded {
	var d decoded
	ok := false
	if a.GetTypeUrl() == rt.TypeURL {
		// Not in an envelope, which is decoded as always.
		d.digest = digestOf(a.GetValue())
		d.name, d.data, ok = c.recall(c.state[rt.TypeURL], d.digest, hint) // sent as cached: decoded already
	}
	if !ok {
		var raw []byte
		d.name, d.data, raw, d.err = decodeOne(rt, a, opts)
		if a.GetTypeUrl() != rt.TypeURL {
			d.digest = digestOf(raw) // of the resource in the envelope
		}
	}
	return d
}

// decodedSet collects the resources of a response by name: one sent twice
// is invalid, one that could not be named is reported apart, by position.
type decodedSet struct {
	named   []decoded
	unnamed []error
	index   map[string]int
}

func newDecodedSet(n int) *decodedSet { return &decodedSet{index: make(map[string]int, n)} }

// add adds the i-th resource of the response and reports whether it is
// the first of its name.
func (s *decodedSet) add(i int, d decoded) bool {
	if d.name == "" {
		err := d.err
		if err == nil {
			err = errors.New("the decoder gave no name")
		}
		s.unnamed = append(s.unnamed, fmt.Errorf("resource [%d]: %v", i, err))
		return false
	}
	if j, dup := s.index[d.name]; dup {
		s.named[j] = decoded{name: d.name, err: errors.New("sent more than once in the response")}
		return false
	}
	s.index[d.name] = len(s.named)
	s.named = append(s.named, d)
	return true
}

// decodeOne unwraps a discovery Resource envelope if there is one, checks the
// type and runs the decoder, turning a panic into an error. raw is the
// resource's bytes (inside the envelope).
func decodeOne(rt ResourceType, a *anypb.Any, opts DecodeOptions) (name string, data ResourceData, raw []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("the %s decoder panicked: %v", rt.TypeName, p)
		}
	}()
	if a.GetTypeUrl() == resourceWrapperURL {
		var env discoveryv3.Resource
		if err := proto.Unmarshal(a.GetValue(), &env); err != nil {
			return "", nil, raw, fmt.Errorf("cannot deserialise the Resource envelope: %v", err)
		}
		name = env.GetName()
		if env.GetResource() == nil {
			return name, nil, raw, errors.New("the Resource envelope carries no resource (TTL heartbeats are not supported)")
		}
		a = env.GetResource()
	}
	if a.GetTypeUrl() != rt.TypeURL {
		return name, nil, raw, fmt.Errorf("a %s in a response of type %s", a.GetTypeUrl(), rt.TypeURL)
	}
	raw = a.GetValue()
	res, err := rt.Decoder.Decode(a, opts)
	if res != nil && res.Name != "" {
		name = res.Name
	}
	if err != nil {
		return name, nil, raw, err
	}
	if res == nil || res.Resource == nil {
		return name, nil, raw, errors.New("the decoder returned no resource")
	}
	return name, res.Resource, raw, nil
}

// nackDetail is the error_detail of a NACK of the response called what
// ("response version %q"): each rejected resource and why.
func nackDetail(rt ResourceType, what string, named []decoded, unnamed []error) error {
	var parts []string
	for _, d := range named {
		if d.err != nil {
			parts = append(parts, fmt.Sprintf("%s %q: %v", rt.TypeName, d.name, d.err))
		}
	}
	if len(parts) == 0 && len(unnamed) == 0 {
		return nil
	}
	sort.Strings(parts)
	for _, e := range unnamed {
		parts = append(parts, e.Error())
	}
	return fmt.Errorf("%s %s rejected: %s", rt.TypeName, what, strings.Join(parts, "; "))
}

// handleResponse applies a response: valid resources replace the cache,
// invalid ones are NACKed and keep their last good version, absent Listeners
// and Clusters are deleted. It queues the watchers' callbacks and the
// ACK/NACK, and returns the flow to wait on before reading on (nil if
// nothing was queued).
func (c *Client) handleResponse(st *adsStream, resp *discoveryv3.DiscoveryResponse) *flow {
	rt, ok := c.types[resp.GetTypeUrl()]
	if !ok {
		// Not a type the client asked for: neither ACK nor NACK, as gRPC.
		return nil
	}
	named, unnamed := c.decode(rt, resp)
	version := resp.GetVersionInfo()
	nack := nackDetail(rt, fmt.Sprintf("response version %q", version), named, unnamed)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != st || c.closed {
		return nil
	}
	c.answeredLocked(st)
	ts := c.state[rt.TypeURL]
	if !ts.sent {
		return nil
	}
	ts.nonce = resp.GetNonce()
	ts.nack = nack
	if nack == nil {
		ts.version = version
	}
	c.requestLocked(ts) // the ACK or NACK

	fl := newFlow()
	changed := make(map[string]ResourceData)
	seen := make(map[string]bool, len(named))
	for _, d := range named {
		seen[d.name] = true
		c.applyLocked(ts, d, version, fl, changed)
	}

	var removed []string
	// A resource that could not be named may be any of the absent ones:
	// deleting on such a response would turn a bad encoding into an outage.
	if rt.AllResourcesRequiredInSotW && len(unnamed) == 0 {
		for name, rs := range ts.resources {
			// Absent: removed if it was cached, or rejected (and never
			// accepted): then it is no longer a problem either.
			if seen[name] || (rs.cache == nil && rs.status != StatusNACKed) {
				continue
			}
			if c.removeLocked(ts, name, rs, fmt.Sprintf("is absent from response version %q", version), fl) {
				removed = append(removed, name)
			}
		}
		sort.Strings(removed)
	}
	c.notifyWildcardsLocked(ts, changed, removed, fl)
	return fl
}

// applyLocked applies one resource sent with version resVersion (the
// response's in SotW, the resource's own in Delta): a valid one replaces
// the cache (and is noted in changed if it differs); an invalid one keeps
// the last good version. It queues the watchers' callbacks on fl.
func (c *Client) applyLocked(ts *typeState, d decoded, resVersion string, fl *flow, changed map[string]ResourceData) {
	rt := ts.rt
	rs := ts.resources[d.name]
	if rs == nil {
		if len(ts.wildcards) == 0 {
			return // not asked for
		}
		rs = &resourceState{name: d.name, status: StatusRequested}
		ts.resources[d.name] = rs
	}
	if rs.phase != phaseReceived {
		c.stopTimerLocked(rs)
		rs.phase = phaseReceived
	}
	if d.err != nil {
		var err error = &InvalidResourceError{TypeName: rt.TypeName, Name: d.name, Version: resVersion, Err: d.err}
		prev := rs.rejection()
		repeat := rs.status == StatusNACKed && prev != nil && prev.Error() == err.Error()
		rs.status = StatusNACKed
		rs.setRejection(err)
		if repeat {
			return
		}
		c.tellLocked(ts, rs, fl, invalidKind(rs), nil, err)
		// A wildcard watcher hears of it even before its first set
		// (which leaves the resource out), so that it can tell.
		for ww := range ts.wildcards {
			c.schedule(&ww.entry, fl, func(done func()) { ww.w.AmbientError(err, done) })
		}
		return
	}
	rs.deletionIgnored = false
	if rs.cache == nil || rs.digest != d.digest || rs.status != StatusACKed {
		c.forget(ts, rs)
		rs.cache, rs.digest = d.data, d.digest
		c.remember(ts, rs)
		changed[d.name] = d.data
		c.tellLocked(ts, rs, fl, evChanged, d.data, nil)
	}
	rs.setVersion(resVersion)
	rs.status = StatusACKed
	rs.setRejection(nil)
}

// removeLocked deletes a resource the server says is gone (why, for the
// message when the deletion is ignored), unless the server advertises
// ignore_resource_deletion and a good version is cached. It reports whether
// the resource was removed.
func (c *Client) removeLocked(ts *typeState, name string, rs *resourceState, why string, fl *flow) bool {
	rt := ts.rt
	if rs.cache != nil && c.server.IgnoreResourceDeletion {
		if !rs.deletionIgnored {
			rs.deletionIgnored = true
			err := fmt.Errorf("%s %q %s; deletion ignored (server feature ignore_resource_deletion)", rt.TypeName, name, why)
			c.tellLocked(ts, rs, fl, evAmbient, nil, err)
		}
		return false
	}
	c.goneLocked(ts, name, rs, fl)
	if !rs.watched() {
		ts.dropLocked(name, rs)
	}
	return true
}

// notifyWildcardsLocked gives each wildcard watcher of ts what a response
// changed, or the whole set if it has not had it yet.
func (c *Client) notifyWildcardsLocked(ts *typeState, changed map[string]ResourceData, removed []string, fl *flow) {
	for ww := range ts.wildcards {
		if !ww.synced {
			c.deliverSetLocked(ts, ww, fl)
			continue
		}
		if len(changed) > 0 || len(removed) > 0 {
			ch, rm := maps.Clone(changed), slices.Clone(removed)
			c.schedule(&ww.entry, fl, func(done func()) { ww.w.ResourcesChanged(ch, rm, done) })
		}
	}
}
