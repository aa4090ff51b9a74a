package xdsclient

// The Delta (incremental) variant of ADS: the client subscribes and
// unsubscribes by name as watches come and go, the server sends only what
// changed (each resource with its own version) and names what it removed.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Protocol is the variant of the xDS protocol a client speaks.
type Protocol string

// The variants of the xDS protocol.
const (
	// ProtocolDelta is incremental xDS (DeltaAggregatedResources).
	ProtocolDelta Protocol = "Delta"
	// ProtocolSotW is State-of-the-World xDS (StreamAggregatedResources).
	ProtocolSotW Protocol = "State of the World"
)

// maxDeltaAnswers bounds the answers (ACK or NACK) of a type waiting for
// the sender.
const maxDeltaAnswers = 32

// wildcardName subscribes to every resource of a type.
const wildcardName = "*"

// Protocol returns the variant the client speaks: Delta, until a server
// answers a Delta stream with codes.Unimplemented (it speaks State of the
// World only); from then on State of the World, for the client's life.
func (c *Client) Protocol() Protocol {
	if c.sotw.Load() {
		return ProtocolSotW
	}
	return ProtocolDelta
}

// runDeltaStream runs one Delta stream to its end and reports whether the
// server sent anything on it, or refused Delta (codes.Unimplemented before
// any response), in which case nothing is reported to the watchers.
func (c *Client) runDeltaStream() (received, refused bool) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(c.cc).DeltaAggregatedResources(ctx)
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return false, true
		}
		c.streamEnded(nil, err, false)
		return false, false
	}
	st := c.beginStream()
	if st == nil {
		return false, false
	}
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		c.sendDelta(ctx, cancel, st, stream)
	}()
	err = c.recvDelta(ctx, st, stream, &received)
	cancel()
	<-sendDone
	if !received && status.Code(err) == codes.Unimplemented {
		c.streamEnded(st, nil, true) // quietly: the client falls back
		return false, true
	}
	c.streamEnded(st, err, received)
	return received, false
}

// sendDelta writes the requests the state calls for, until the stream ends.
// It is the only writer of the stream.
func (c *Client) sendDelta(ctx context.Context, cancel context.CancelFunc, st *adsStream, stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.wake:
		}
		reqs := c.deltaRequests(st)
		for _, req := range reqs {
			if err := stream.Send(req); err != nil {
				if err != io.EOF {
					cancel() // recv sees the stream end
				} // io.EOF: the server ended the stream; recv reads its status
				return
			}
		}
		if len(reqs) > 0 {
			c.subscribedOn(st)
		}
	}
}

// deltaRequests builds the pending requests of st, in type order: per type,
// the ACK or NACK of each response not answered yet (its nonce alone, as istiod takes an
// ACK that changes the subscription for an error), then the subscription
// changes. The first subscription of a type on the stream names everything
// wanted and gives the versions cached, which the server need not resend.
// The expiry timers of the resources subscribed start.
func (c *Client) deltaRequests(st *adsStream) []*discoveryv3.DeltaDiscoveryRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != st || c.closed {
		return nil
	}
	var reqs []*discoveryv3.DeltaDiscoveryRequest
	add := func(req *discoveryv3.DeltaDiscoveryRequest) {
		if st.first {
			req.Node = c.node
			st.first = false
		}
		reqs = append(reqs, req)
	}
	for _, url := range c.order {
		ts := c.state[url]
		if !ts.pending {
			continue
		}
		ts.pending = false
		for _, a := range ts.answers {
			req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: url, ResponseNonce: a.nonce}
			if a.nack != nil {
				req.ErrorDetail = &statuspb.Status{Code: int32(code.Code_INVALID_ARGUMENT), Message: a.nack.Error()}
			}
			add(req)
		}
		clear(ts.answers)
		ts.answers = ts.answers[:0]

		// With a wildcard watcher, "*" alone: named resources are part
		// of the wildcard set. The subscription changes from what the
		// flags say is on the stream (see typeState) to what is wanted.
		wild := len(ts.wildcards) > 0
		var sub, unsub, resub []string
		switch {
		case wild && !ts.wildOnStream:
			sub = append(sub, wildcardName)
		case !wild && ts.wildOnStream:
			unsub = append(unsub, wildcardName)
		}
		for name, rs := range ts.resources {
			_, off := ts.offStream[name]
			on := rs.onStream || off
			switch want := !wild && rs.watched(); {
			case want && !on:
				sub = append(sub, name)
			case want && rs.phase == phaseStarted:
				// Unsubscribed and subscribed again before the
				// unsubscription went out: the server believes the
				// client holds it, and would not send it again.
				resub = append(resub, name)
			case !want && on:
				unsub = append(unsub, name)
			}
		}
		for name := range ts.offStream {
			if ts.resources[name] == nil {
				unsub = append(unsub, name)
			}
		}
		if len(sub)+len(unsub)+len(resub) > 0 {
			sort.Strings(sub)
			sort.Strings(resub)
			unsub = append(unsub, resub...)
			sort.Strings(unsub)
			req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: url, ResourceNamesSubscribe: sub, ResourceNamesUnsubscribe: unsub}
			if !ts.sent {
				for name, rs := range ts.resources {
					if v := rs.versionString(); rs.cache != nil && v != "" && (wild || rs.watched()) {
						if req.InitialResourceVersions == nil {
							req.InitialResourceVersions = make(map[string]string)
						}
						req.InitialResourceVersions[name] = v
					}
				}
			}
			add(req)
			if len(resub) > 0 {
				add(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: url, ResourceNamesSubscribe: resub})
			}
			ts.wildOnStream, ts.offStream = wild, nil
			for _, rs := range ts.resources {
				rs.onStream = !wild && rs.watched()
			}
			ts.sent = true
		}
		if !ts.sent {
			continue
		}
		c.startExpiryLocked(ts)
	}
	return reqs
}

// recvDelta reads responses until the stream ends, and returns why it ended.
func (c *Client) recvDelta(ctx context.Context, st *adsStream, stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, received *bool) error {
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		*received = true
		if fl := c.handleDeltaResponse(st, resp); fl != nil && !fl.wait(ctx) {
			return ctx.Err()
		}
	}
}

// decodeDelta decodes every resource of resp, and returns the version of
// each by name. Resources it cannot name are reported apart, by position.
func (c *Client) decodeDelta(rt ResourceType, resp *discoveryv3.DeltaDiscoveryResponse) (named []decoded, versions map[string]string, unnamed []error) {
	opts := DecodeOptions{Server: c.server}
	set := newDecodedSet(len(resp.GetResources()))
	versions = make(map[string]string, len(resp.GetResources()))
	for i, r := range resp.GetResources() {
		var d decoded
		if a := r.GetResource(); a == nil {
			d.err = errors.New("the Resource carries no resource (TTL heartbeats are not supported)")
		} else {
			d = c.decodeResource(rt, a, r.GetName(), opts)
		}
		switch {
		case d.name == "":
			d.name = r.GetName()
		case r.GetName() != "" && r.GetName() != d.name:
			d.err = fmt.Errorf("the Resource is named %q but carries a %s named %q", r.GetName(), rt.TypeName, d.name)
			d.name, d.data = r.GetName(), nil
		}
		if set.add(i, d) {
			versions[d.name] = r.GetVersion()
		}
	}
	return set.named, versions, set.unnamed
}

// handleDeltaResponse applies a Delta response: valid resources replace the
// cache, invalid ones are NACKed and keep their last good version, removed
// ones are deleted (a subscribed resource not received yet does not exist).
// It queues the watchers' callbacks and the ACK/NACK, and returns the flow
// to wait on before reading on (nil if nothing was queued).
func (c *Client) handleDeltaResponse(st *adsStream, resp *discoveryv3.DeltaDiscoveryResponse) *flow {
	rt, ok := c.types[resp.GetTypeUrl()]
	if !ok {
		// Not a type the client asked for: neither ACK nor NACK, as gRPC.
		return nil
	}
	named, versions, unnamed := c.decodeDelta(rt, resp)
	version := resp.GetSystemVersionInfo()
	// system_version_info is optional (for debugging): the nonce, which
	// is required, names the response too.
	what := fmt.Sprintf("response nonce %q", resp.GetNonce())
	if version != "" {
		what = fmt.Sprintf("response version %q (nonce %q)", version, resp.GetNonce())
	}
	nack := nackDetail(rt, what, named, unnamed)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != st || c.closed {
		return nil
	}
	c.answeredLocked(st)
	c.deltaHeard = true
	ts := c.state[rt.TypeURL]
	if !ts.sent {
		return nil
	}
	// Each response is answered by its own nonce: a NACK must not be lost
	// under the ACK of a next response read before the sender ran (each
	// Delta response carries other resources; Envoy too answers each).
	if len(ts.answers) >= maxDeltaAnswers {
		// The sender is stuck (a server that sends without reading):
		// the oldest ACK goes, or the oldest answer if all are NACKs.
		i := slices.IndexFunc(ts.answers, func(a deltaAnswer) bool { return a.nack == nil })
		ts.answers = slices.Delete(ts.answers, max(i, 0), max(i, 0)+1)
	}
	ts.answers = append(ts.answers, deltaAnswer{nonce: resp.GetNonce(), nack: nack})
	c.requestLocked(ts) // the ACK or NACK

	fl := newFlow()
	changed := make(map[string]ResourceData)
	for _, d := range named {
		c.applyLocked(ts, d, versions[d.name], fl, changed)
	}
	var removed []string
	for _, name := range resp.GetRemovedResources() {
		rs := ts.resources[name]
		if _, sent := versions[name]; sent || rs == nil {
			continue
		}
		if rs.phase != phaseReceived {
			c.stopTimerLocked(rs)
			rs.phase = phaseReceived
		}
		inSet := rs.cache != nil || rs.status == StatusNACKed
		if !inSet && (rs.status == StatusDoesNotExist || !rs.watched()) {
			continue // nothing to tell
		}
		if c.removeLocked(ts, name, rs, "was removed in "+what, fl) && inSet {
			removed = append(removed, name)
		}
	}
	sort.Strings(removed)
	c.notifyWildcardsLocked(ts, changed, removed, fl)
	return fl
}
