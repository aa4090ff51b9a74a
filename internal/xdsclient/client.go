package xdsclient

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// DefaultWatchExpiryTimeout is how long a subscribed resource may go unsent
// before the client decides it does not exist, as in Envoy and gRPC.
const DefaultWatchExpiryTimeout = 15 * time.Second

// Client features the client advertises in its node identity.
const (
	// FeatureResourceInSotW: resources wrapped in a discovery Resource
	// envelope are understood in SotW responses.
	FeatureResourceInSotW = "xds.config.resource-in-sotw"
)

// userAgentName is the node's user_agent_name.
const userAgentName = "switchyard"

// modulePath is switchyard's module, whose version is the node's
// user_agent_version.
const modulePath = "github.com/switchyard-go/switchyard"

// ServerConfig says how to reach a control plane.
type ServerConfig struct {
	// URI is the gRPC target ("dns:///istiod.istio-system.svc:15010",
	// "unix:///etc/istio/proxy/XDS", "127.0.0.1:18000").
	URI string
	// DialOptions carry at least the transport credentials.
	DialOptions []grpc.DialOption
	// IgnoreResourceDeletion keeps a Listener or Cluster that a SotW
	// response omits instead of deleting it (server feature
	// "ignore_resource_deletion", gRFC A53).
	IgnoreResourceDeletion bool
}

// Config configures a Client. It is not modified by New and may be reused.
type Config struct {
	// Server is the control plane.
	Server ServerConfig
	// Node identifies the client. The client copies it and sets
	// user_agent_name, user_agent_version and adds its client_features.
	Node *corev3.Node
	// ResourceTypes are the types that can be watched; each TypeURL once.
	ResourceTypes []ResourceType
	// WatchExpiryTimeout is how long after a request names a resource the
	// client waits for it before reporting that it does not exist. If zero,
	// DefaultWatchExpiryTimeout.
	WatchExpiryTimeout time.Duration
	// Clock schedules the expiry timers and the reconnection backoff. If
	// nil, the wall clock.
	Clock clock.Clock
	// Backoff returns the delays between failed connection attempts. If
	// nil, gRPC's connection backoff: 1 s growing ×1.6 to 120 s, ±20 %.
	Backoff func() backoff.BackOff
	// StateOfTheWorld makes the client speak State of the World only,
	// never trying Delta. Set it for a client that watches Listeners or
	// Clusters by name (a proxyless gRPC client's subscription) of istiod:
	// its Delta server handles LDS and CDS as the wildcard types they are
	// for Envoy, and after each response it sends takes the resources in
	// it for the whole subscription, so that a listener subscribed before
	// another, or one that did not exist yet, is not pushed again
	// (istio.io/istio pilot/pkg/xds/delta.go, pushDeltaXds with
	// shouldSetWatchedResources).
	StateOfTheWorld bool
}

// Status is where a watched resource stands.
type Status uint8

// Statuses of a resource, as in Envoy's client status dump.
const (
	// StatusRequested: subscribed, nothing received yet.
	StatusRequested Status = iota
	// StatusACKed: the cached version is the last one the server sent.
	StatusACKed
	// StatusNACKed: the last version sent was rejected; the cached one,
	// if any, stays in force.
	StatusNACKed
	// StatusDoesNotExist: not sent within the expiry timeout, or removed.
	StatusDoesNotExist
)

func (s Status) String() string {
	switch s {
	case StatusRequested:
		return "REQUESTED"
	case StatusACKed:
		return "ACKED"
	case StatusNACKed:
		return "NACKED"
	case StatusDoesNotExist:
		return "DOES_NOT_EXIST"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// ResourceStatus is one resource in a [Client.Dump].
type ResourceStatus struct {
	TypeURL string
	Name    string
	Status  Status
	// Version is the version_info of the response that carried Resource.
	Version string
	// Resource is the cached good version, if any.
	Resource ResourceData
	// Err says why the last version sent was rejected (StatusNACKed).
	Err error
}

// Client is an ADS client. Its methods are safe for concurrent use. Close it
// when done.
type Client struct {
	server     ServerConfig
	types      map[string]ResourceType
	order      []string // type URLs in configuration order: requests go out in it
	node       *corev3.Node
	expiry     time.Duration
	clk        clock.Clock
	newBackoff func() backoff.BackOff

	cc        *grpc.ClientConn
	cbs       *serializer
	ctx       context.Context
	cancel    context.CancelFunc
	runDone   chan struct{}
	closeOnce sync.Once

	// sotw is set once the client speaks State of the World: configured so,
	// or the server answered a Delta stream with codes.Unimplemented.
	sotw atomic.Bool

	mu     sync.Mutex
	closed bool
	state  map[string]*typeState
	stream *adsStream // the stream up now; nil between streams

	// The link with the server (ConnectionState).
	connected bool
	connSince time.Time
	connErr   error
	// deltaHeard: the server has answered a Delta stream of this client,
	// so that it speaks Delta.
	deltaHeard bool
	// memoOn: the typeStates' memos are kept, from the first State of the
	// World stream on (a Delta response names its resources: it needs
	// none).
	memoOn bool
}

// digest identifies a resource's serialised bytes (their SHA-256): the
// cache keeps it instead of the bytes, to recognise a resource re-sent
// unchanged.
type digest struct {
	sum [sha256.Size]byte
}

func digestOf(b []byte) digest { return digest{sha256.Sum256(b)} }

// key is where a typeState's memo files the digest.
func (d digest) key() uint64 { return binary.LittleEndian.Uint64(d.sum[:8]) }

// remember files rs, which caches a good version, in its type's memo, at
// the head of the chain of its digest's key (digests that share a key do
// not shadow each other). Called with c.mu held, rs not filed.
func (c *Client) remember(ts *typeState, rs *resourceState) {
	if rs.cache == nil || !c.memoOn {
		return
	}
	if ts.memo == nil {
		ts.memo = make(map[uint64]*resourceState)
	}
	k := rs.digest.key()
	rs.setMemoNext(ts.memo[k])
	ts.memo[k] = rs
}

// forget takes rs, whose cached version is about to change or go, out of
// its type's memo. Called with c.mu held.
func (c *Client) forget(ts *typeState, rs *resourceState) {
	if rs.cache == nil || !c.memoOn {
		return
	}
	k := rs.digest.key()
	for p := ts.memo[k]; p != nil; p = p.memoNext() {
		if p == rs {
			break
		}
		if p.memoNext() == rs {
			p.setMemoNext(rs.memoNext())
			rs.setMemoNext(nil)
			return
		}
	}
	if ts.memo[k] == rs {
		if next := rs.memoNext(); next == nil {
			delete(ts.memo, k)
		} else {
			ts.memo[k] = next
		}
		rs.setMemoNext(nil)
	}
}

// memoOnLocked starts keeping the memos, filing every cached resource.
// Called with c.mu held.
func (c *Client) memoOnLocked() {
	if c.memoOn {
		return
	}
	c.memoOn = true
	for _, ts := range c.state {
		for _, rs := range ts.resources {
			c.remember(ts, rs)
		}
	}
}

// recall returns the name and cached version of the resource of ts whose
// bytes have digest d, if one is cached. A name (a Delta Resource's) limits
// the search to the resource of that name: the same bytes under another
// name are another resource (a decoder need not name what it decodes).
func (c *Client) recall(ts *typeState, d digest, name string) (string, ResourceData, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name != "" {
		if rs := ts.resources[name]; rs != nil && rs.cache != nil && rs.digest == d {
			return rs.name, rs.cache, true
		}
		return "", nil, false
	}
	for rs := ts.memo[d.key()]; rs != nil; rs = rs.memoNext() {
		if rs.cache != nil && rs.digest == d {
			return rs.name, rs.cache, true
		}
	}
	return "", nil, false
}

// New validates cfg and returns a client that connects in the background;
// it does not wait for the control plane.
func New(cfg Config) (*Client, error) {
	var errs []error
	if cfg.Server.URI == "" {
		errs = append(errs, errors.New("xdsclient: Server.URI is empty"))
	}
	if cfg.WatchExpiryTimeout < 0 {
		errs = append(errs, fmt.Errorf("xdsclient: WatchExpiryTimeout %v is negative", cfg.WatchExpiryTimeout))
	}
	if len(cfg.ResourceTypes) == 0 {
		errs = append(errs, errors.New("xdsclient: no ResourceTypes"))
	}
	types := make(map[string]ResourceType, len(cfg.ResourceTypes))
	var order []string
	for i, rt := range cfg.ResourceTypes {
		switch {
		case rt.TypeURL == "":
			errs = append(errs, fmt.Errorf("xdsclient: ResourceTypes[%d]: TypeURL is empty", i))
		case rt.Decoder == nil:
			errs = append(errs, fmt.Errorf("xdsclient: ResourceTypes[%d] (%s): Decoder is nil", i, rt.TypeURL))
		case types[rt.TypeURL].TypeURL != "":
			errs = append(errs, fmt.Errorf("xdsclient: ResourceTypes[%d]: type %s given twice", i, rt.TypeURL))
		default:
			if rt.TypeName == "" {
				rt.TypeName = rt.TypeURL
			}
			types[rt.TypeURL] = rt
			order = append(order, rt.TypeURL)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(cfg.Server.URI, cfg.Server.DialOptions...)
	if err != nil {
		return nil, fmt.Errorf("xdsclient: server %q: %w", cfg.Server.URI, err)
	}
	c := &Client{
		server:     cfg.Server,
		types:      types,
		order:      order,
		node:       nodeProto(cfg.Node),
		expiry:     cfg.WatchExpiryTimeout,
		clk:        cfg.Clock,
		newBackoff: cfg.Backoff,
		cc:         cc,
		cbs:        newSerializer(),
		runDone:    make(chan struct{}),
		state:      make(map[string]*typeState, len(types)),
	}
	c.sotw.Store(cfg.StateOfTheWorld)
	c.server.DialOptions = slices.Clone(cfg.Server.DialOptions)
	if c.expiry == 0 {
		c.expiry = DefaultWatchExpiryTimeout
	}
	if c.clk == nil {
		c.clk = clock.Real{}
	}
	if c.newBackoff == nil {
		c.newBackoff = defaultBackoff
	}
	for url, rt := range types {
		c.state[url] = &typeState{c: c, rt: rt, resources: make(map[string]*resourceState)}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
	return c, nil
}

// defaultBackoff is gRPC's connection backoff
// (https://github.com/grpc/grpc/blob/master/doc/connection-backoff.md).
func defaultBackoff() backoff.BackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(time.Second),
		backoff.WithMultiplier(1.6),
		backoff.WithRandomizationFactor(0.2),
		backoff.WithMaxInterval(120*time.Second),
		backoff.WithMaxElapsedTime(0),
	)
}

// nodeProto copies n and adds what the client says about itself.
func nodeProto(n *corev3.Node) *corev3.Node {
	out := &corev3.Node{}
	if n != nil {
		out = proto.Clone(n).(*corev3.Node)
	}
	out.UserAgentName = userAgentName
	out.UserAgentVersionType = &corev3.Node_UserAgentVersion{UserAgentVersion: moduleVersion()}
	if !slices.Contains(out.ClientFeatures, FeatureResourceInSotW) {
		out.ClientFeatures = append(out.ClientFeatures, FeatureResourceInSotW)
	}
	return out
}

// moduleVersion is switchyard's version as the build recorded it.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if bi.Main.Path == modulePath {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "unknown"
}

// typeState is what the client knows of one resource type. Guarded by
// Client.mu.
type typeState struct {
	c         *Client // whose type it is (a namedWatch reaches its client so)
	rt        ResourceType
	version   string // version_info last accepted: survives reconnection
	nonce     string // nonce of the last response on the current stream
	nack      error  // detail of the NACK still to send
	pending   bool   // a request must go out on the current stream
	resources map[string]*resourceState
	wildcards map[*wildcardWatch]struct{}
	names     *NamesWatch // the type's, if any: its members are flagged in their resourceState
	// memo files the resources that cache a good version by their
	// digest's key (chained by memoNext), so that one re-sent unchanged (a State-of-the-World
	// response re-sends every resource of its type) is not decoded again.
	memo map[uint64]*resourceState

	// On the current stream:
	sent  bool // a request for the type went out
	named bool // a request naming resources went out: legacy wildcard is over
	// Delta only: the answers (ACK or NACK) still to send, one per
	// response in order. The names subscribed to are the resources'
	// onStream, wildOnStream for the wildcard, and offStream: names
	// subscribed to whose resourceState is gone, their unsubscription not
	// yet sent (usually none; a set of every name would double what the
	// resources map holds).
	answers      []deltaAnswer
	wildOnStream bool
	offStream    map[string]struct{}
}

// dropLocked deletes rs, called name, from the resources of ts: if the
// name is subscribed to on the current Delta stream, it stays so in
// offStream until its unsubscription goes out.
func (ts *typeState) dropLocked(name string, rs *resourceState) {
	delete(ts.resources, name)
	if rs.onStream {
		rs.onStream = false
		if ts.offStream == nil {
			ts.offStream = make(map[string]struct{})
		}
		ts.offStream[name] = struct{}{}
	}
}

// deltaAnswer is the ACK (nack nil) or NACK of one Delta response.
type deltaAnswer struct {
	nonce string
	nack  error
}

type watchPhase uint8

const (
	phaseStarted   watchPhase = iota // not yet requested on the current stream
	phaseRequested                   // requested; the expiry timer runs
	phaseReceived                    // the server has sent it (valid or not)
	phaseTimedOut                    // the expiry timer fired
)

// resourceState is one resource: its watchers and its cache. It exists while
// some watcher names it, or while it is part of a wildcard set.
// One exists per resource of a mesh: its fields are ordered to pack it in
// the 96 B size class, what only some resources need being in aux.
type resourceState struct {
	name    string
	cache   ResourceData
	version string       // version that carried cache; digestVersion for the digest's
	aux     *resourceAux // nil unless a timer runs, a version was rejected, a Watch names it, or the memo chains it
	digest  digest       // of cache's bytes
	// member is odd while the type's NamesWatch names the resource; it
	// counts each Add and Remove, so that a call queued before a Remove
	// finds it changed and does not start. Written under Client.mu.
	member          atomic.Uint32
	status          Status
	phase           watchPhase
	deletionIgnored bool
	onStream        bool // subscribed to by name on the current Delta stream
}

// digestVersion stands, as a resource's version, for the hexadecimal
// SHA-256 of its bytes (as go-control-plane versions a Delta resource),
// which its digest holds. It is not valid UTF-8, so that it cannot be a
// version a server sent (a protobuf string is).
const digestVersion = "\xff"

// inNames reports whether the type's NamesWatch names the resource.
func (rs *resourceState) inNames() bool { return rs.member.Load()&1 == 1 }

// setVersion records v as the version that carried the cache.
func (rs *resourceState) setVersion(v string) {
	rs.version = v
	if len(v) == 2*len(rs.digest.sum) && rs.cache != nil {
		var h [2 * sha256.Size]byte
		hex.Encode(h[:], rs.digest.sum[:])
		if string(h[:]) == v {
			rs.version = digestVersion
		}
	}
}

// versionString is the version that carried the cache ("" if none).
func (rs *resourceState) versionString() string {
	if rs.version == digestVersion {
		return hex.EncodeToString(rs.digest.sum[:])
	}
	return rs.version
}

// resourceAux is what a resourceState holds only for a while or for some
// resources: the expiry timer, while the resource is requested and not yet
// sent, why its last version was rejected, the Watches that name it, and
// the next resource in the memo whose digest has the same key. Most
// resources of a mesh need none of them, and do not carry their room.
type resourceAux struct {
	expiry   *expiry        // the expiry timer it waits for
	err      error          // why the last version was rejected
	watchers *namedWatch    // a list, linked by next
	memoNext *resourceState // the next in the memo with the same digest key
}

// memoNext is the next resource in the memo with the same digest key.
func (rs *resourceState) memoNext() *resourceState {
	if rs.aux == nil {
		return nil
	}
	return rs.aux.memoNext
}

// setMemoNext sets the next resource in the memo with the same digest key.
func (rs *resourceState) setMemoNext(next *resourceState) {
	if next != nil && rs.aux == nil {
		rs.aux = &resourceAux{}
	}
	if rs.aux != nil {
		rs.aux.memoNext = next
		rs.trimAux()
	}
}

// rejection is why the resource's last version was rejected (nil if it was
// not).
func (rs *resourceState) rejection() error {
	if rs.aux == nil {
		return nil
	}
	return rs.aux.err
}

// setRejection records why the last version was rejected (nil: it was not).
func (rs *resourceState) setRejection(err error) {
	if err != nil && rs.aux == nil {
		rs.aux = &resourceAux{}
	}
	if rs.aux != nil {
		rs.aux.err = err
		rs.trimAux()
	}
}

// trimAux drops rs.aux when it holds nothing.
func (rs *resourceState) trimAux() {
	if a := rs.aux; a != nil && a.expiry == nil && a.err == nil && a.watchers == nil && a.memoNext == nil {
		rs.aux = nil
	}
}

// watched reports whether some watcher names the resource.
func (rs *resourceState) watched() bool {
	return rs.inNames() || (rs.aux != nil && rs.aux.watchers != nil)
}

// all iterates over the resource's watchers.
func (rs *resourceState) all() iter.Seq[*namedWatch] {
	return func(yield func(*namedWatch) bool) {
		if rs.aux == nil {
			return
		}
		for nw := rs.aux.watchers; nw != nil; nw = nw.next {
			if !yield(nw) {
				return
			}
		}
	}
}

// remove takes nw out of the resource's watchers.
func (rs *resourceState) remove(nw *namedWatch) {
	if rs.aux == nil {
		return
	}
	for p := &rs.aux.watchers; *p != nil; p = &(*p).next {
		if *p == nw {
			*p, nw.next = nw.next, nil
			rs.trimAux()
			return
		}
	}
}

// add adds nw to the resource's watchers and reports whether it is the
// first.
func (rs *resourceState) add(nw *namedWatch) bool {
	if rs.aux == nil {
		rs.aux = &resourceAux{}
	}
	nw.next = rs.aux.watchers
	rs.aux.watchers = nw
	return nw.next == nil
}

// namedWatch is one Watch: its cancel func is the method value of cancel.
type namedWatch struct {
	entry watchEntry
	gone  bool // cancelled; guarded by Client.mu
	w     ResourceWatcher
	next  *namedWatch // the resource's next watcher
	ts    *typeState  // and through it the Client: one pointer less per watch
	rs    *resourceState
}

// cancel ends the watch. It is idempotent and does not block.
func (nw *namedWatch) cancel() {
	c := nw.ts.c
	c.cbs.cancel(&nw.entry)
	c.unwatch(nw)
}

type wildcardWatch struct {
	entry  watchEntry
	w      WildcardWatcher
	synced bool // has had its first ResourcesChanged
}

// Watch starts watching the resource of type typeURL called name. Events
// about it go to w until cancel is called; what is cached is delivered at
// once. A resource named "*" (the name of the wildcard subscription) cannot
// be asked for: w hears at once that it does not exist. cancel is idempotent
// and does not block.
func (c *Client) Watch(typeURL, name string, w ResourceWatcher) (cancel func(), err error) {
	ts := c.state[typeURL]
	switch {
	case ts == nil:
		return nil, fmt.Errorf("xdsclient: watch of %q: unknown resource type %q", name, typeURL)
	case name == "":
		return nil, fmt.Errorf("xdsclient: watch of a %s with an empty name", ts.rt.TypeName)
	case w == nil:
		return nil, fmt.Errorf("xdsclient: watch of %s %q: nil watcher", ts.rt.TypeName, name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if name == wildcardName {
		// The name subscribes to every resource of the type: a resource
		// called so cannot be asked for. It does not exist for the client,
		// which subscribes to nothing for it (its resourceState is not the
		// type's).
		rs := &resourceState{name: name, status: StatusDoesNotExist, phase: phaseReceived}
		nw := &namedWatch{w: w, ts: ts, rs: rs}
		rs.add(nw)
		err := fmt.Errorf("%w: %s %q: the name subscribes to every resource of the type and cannot be watched by name", ErrResourceNotFound, ts.rt.TypeName, name)
		c.schedule(&nw.entry, nil, func(done func()) { w.ResourceError(err, done) })
		return nw.cancel, nil
	}
	rs := ts.resources[name]
	if rs == nil {
		rs = &resourceState{name: name, status: StatusRequested}
		ts.resources[name] = rs
	}
	nw := &namedWatch{w: w, ts: ts, rs: rs}
	if rs.add(nw) {
		c.requestLocked(ts)
	}
	if rs.cache != nil {
		c.tellNamedLocked(nw, nil, evChanged, rs.cache, nil)
	}
	switch rs.status {
	case StatusNACKed:
		c.tellNamedLocked(nw, nil, invalidKind(rs), nil, rs.rejection())
	case StatusDoesNotExist:
		c.tellNamedLocked(nw, nil, evError, nil, c.notFound(ts, name, rs))
	}
	return nw.cancel, nil
}

func (c *Client) unwatch(nw *namedWatch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if nw.gone {
		return
	}
	nw.gone = true
	nw.rs.remove(nw)
	c.unwantedLocked(nw.ts, nw.rs)
}

// unwantedLocked follows a watcher of rs going: if none names it any
// longer, it is not requested, and it is dropped unless a wildcard watch
// keeps its cached version.
func (c *Client) unwantedLocked(ts *typeState, rs *resourceState) {
	name := rs.name
	if rs.watched() || ts.resources[name] != rs || c.closed {
		return
	}
	c.stopTimerLocked(rs)
	if rs.phase == phaseRequested {
		rs.phase = phaseStarted
	}
	if len(ts.wildcards) == 0 || rs.cache == nil {
		c.forget(ts, rs)
		ts.dropLocked(name, rs)
	}
	c.requestLocked(ts)
}

// NamesWatch watches a set of resources of one type, by name, for one
// [NamesWatcher]: what a Watch per name does, for a flag per resource
// instead of a watch, a cancel func and a watcher each. A type has at most
// one. Its methods are safe for concurrent use and do not block.
type NamesWatch struct {
	c     *Client
	ts    *typeState
	w     NamesWatcher
	entry watchEntry     // of every call: cancelled by Cancel
	star  *resourceState // the resource named "*", while named
	gone  bool           // cancelled; guarded by Client.mu
}

// WatchNames starts a NamesWatch of type typeURL naming nothing yet; Add
// names the resources to watch. It is an error if the type has one
// already.
func (c *Client) WatchNames(typeURL string, w NamesWatcher) (*NamesWatch, error) {
	ts := c.state[typeURL]
	switch {
	case ts == nil:
		return nil, fmt.Errorf("xdsclient: names watch: unknown resource type %q", typeURL)
	case w == nil:
		return nil, fmt.Errorf("xdsclient: names watch of %s: nil watcher", ts.rt.TypeName)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, ErrClosed
	case ts.names != nil:
		return nil, fmt.Errorf("xdsclient: names watch of %s: the type has one already", ts.rt.TypeName)
	}
	ts.names = &NamesWatch{c: c, ts: ts, w: w}
	return ts.names, nil
}

// Add adds the resource called name to the set, as [Client.Watch] would
// watch it: what is cached is delivered at once, and a resource named "*"
// (the name of the wildcard subscription) is at once reported not to
// exist. Adding a name the set has is a no-op.
func (s *NamesWatch) Add(name string) error {
	c, ts := s.c, s.ts
	if name == "" {
		return fmt.Errorf("xdsclient: names watch of %s: an empty name", ts.rt.TypeName)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case s.gone:
		return fmt.Errorf("xdsclient: names watch of %s: cancelled", ts.rt.TypeName)
	}
	if name == wildcardName {
		// Not the type's resource, as for Watch.
		if s.star == nil {
			s.star = &resourceState{name: name, status: StatusDoesNotExist, phase: phaseReceived}
			s.star.member.Add(1)
			err := fmt.Errorf("%w: %s %q: the name subscribes to every resource of the type and cannot be watched by name", ErrResourceNotFound, ts.rt.TypeName, name)
			c.tellNamesLocked(s, s.star, nil, evError, nil, err)
		}
		return nil
	}
	rs := ts.resources[name]
	if rs == nil {
		rs = &resourceState{name: name, status: StatusRequested}
		ts.resources[name] = rs
	}
	if rs.inNames() {
		return nil
	}
	first := !rs.watched()
	rs.member.Add(1)
	if first {
		c.requestLocked(ts)
	}
	if rs.cache != nil {
		c.tellNamesLocked(s, rs, nil, evChanged, rs.cache, nil)
	}
	switch rs.status {
	case StatusNACKed:
		c.tellNamesLocked(s, rs, nil, invalidKind(rs), nil, rs.rejection())
	case StatusDoesNotExist:
		c.tellNamesLocked(s, rs, nil, evError, nil, c.notFound(ts, name, rs))
	}
	return nil
}

// Remove takes the resource called name out of the set: no call about it
// starts once Remove has returned (until it is added again).
func (s *NamesWatch) Remove(name string) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s.removeLocked(name)
}

func (s *NamesWatch) removeLocked(name string) {
	if name == wildcardName {
		if s.star != nil {
			s.star.member.Add(1)
			s.star = nil
		}
		return
	}
	rs := s.ts.resources[name]
	if rs == nil || !rs.inNames() {
		return
	}
	rs.member.Add(1)
	s.c.unwantedLocked(s.ts, rs)
}

// Cancel ends the watch, removing every name; no call of its watcher starts
// once it has returned. It is idempotent.
func (s *NamesWatch) Cancel() {
	c, ts := s.c, s.ts
	c.cbs.cancel(&s.entry)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.gone {
		return
	}
	s.gone = true
	s.removeLocked(wildcardName)
	var names []string
	for name, rs := range ts.resources {
		if rs.inNames() {
			names = append(names, name)
		}
	}
	for _, name := range names {
		s.removeLocked(name)
	}
	if ts.names == s {
		ts.names = nil
	}
}

// Has reports whether the set names the resource called name.
func (s *NamesWatch) Has(name string) bool {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if name == wildcardName {
		return s.star != nil
	}
	rs := s.ts.resources[name]
	return rs != nil && rs.inNames()
}

// Names returns the names in the set, sorted.
func (s *NamesWatch) Names() []string {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	if s.star != nil {
		names = append(names, wildcardName)
	}
	for name, rs := range s.ts.resources {
		if rs.inNames() {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// eventKind is which watcher method a call is.
type eventKind uint8

const (
	evChanged eventKind = iota // ResourceChanged
	evError                    // ResourceError
	evAmbient                  // AmbientError
)

// invalidKind is how a rejection of rs is told: an ambient error if a
// good version is cached, a resource error otherwise.
func invalidKind(rs *resourceState) eventKind {
	if rs.cache != nil {
		return evAmbient
	}
	return evError
}

// tellLocked queues an event about rs for every watcher that names it (its
// Watches and its type's NamesWatch), on fl.
func (c *Client) tellLocked(ts *typeState, rs *resourceState, fl *flow, k eventKind, data ResourceData, err error) {
	for nw := range rs.all() {
		c.tellNamedLocked(nw, fl, k, data, err)
	}
	if s := ts.names; s != nil && rs.inNames() {
		c.tellNamesLocked(s, rs, fl, k, data, err)
	}
}

// tellNamedLocked queues an event for the Watch nw.
func (c *Client) tellNamedLocked(nw *namedWatch, fl *flow, k eventKind, data ResourceData, err error) {
	w := nw.w
	c.schedule(&nw.entry, fl, func(done func()) {
		switch k {
		case evChanged:
			w.ResourceChanged(data, done)
		case evError:
			w.ResourceError(err, done)
		default:
			w.AmbientError(err, done)
		}
	})
}

// tellNamesLocked queues an event about rs, which s names, for s: it
// starts only if rs is still in the set as it is now.
func (c *Client) tellNamesLocked(s *NamesWatch, rs *resourceState, fl *flow, k eventKind, data ResourceData, err error) {
	w, name, member := s.w, rs.name, rs.member.Load()
	c.schedule(&s.entry, fl, func(done func()) {
		if rs.member.Load() != member {
			done() // removed since
			return
		}
		switch k {
		case evChanged:
			w.ResourceChanged(name, data, done)
		case evError:
			w.ResourceError(name, err, done)
		default:
			w.AmbientError(name, err, done)
		}
	})
}

// WatchWildcard starts watching every resource of type typeURL, which must
// be a type whose SotW responses list all resources (Listener, Cluster).
// cancel is idempotent and does not block.
func (c *Client) WatchWildcard(typeURL string, w WildcardWatcher) (cancel func(), err error) {
	ts := c.state[typeURL]
	switch {
	case ts == nil:
		return nil, fmt.Errorf("xdsclient: wildcard watch: unknown resource type %q", typeURL)
	case !ts.rt.AllResourcesRequiredInSotW:
		return nil, fmt.Errorf("xdsclient: wildcard watch of %s: not supported for a type whose responses need not list every resource", ts.rt.TypeName)
	case w == nil:
		return nil, fmt.Errorf("xdsclient: wildcard watch of %s: nil watcher", ts.rt.TypeName)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	ww := &wildcardWatch{w: w}
	if ts.wildcards == nil {
		ts.wildcards = make(map[*wildcardWatch]struct{})
	}
	ts.wildcards[ww] = struct{}{}
	if len(ts.wildcards) == 1 {
		c.requestLocked(ts)
	} else {
		// Another wildcard watcher has synced: the set is known.
		for o := range ts.wildcards {
			if o.synced {
				c.deliverSetLocked(ts, ww, nil)
				break
			}
		}
	}
	return sync.OnceFunc(func() {
		c.cbs.cancel(&ww.entry)
		c.unwatchWildcard(ts, ww)
	}), nil
}

func (c *Client) unwatchWildcard(ts *typeState, ww *wildcardWatch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(ts.wildcards, ww)
	if len(ts.wildcards) > 0 || c.closed {
		return
	}
	for name, rs := range ts.resources {
		if !rs.watched() {
			c.forget(ts, rs)
			ts.dropLocked(name, rs)
		}
	}
	c.requestLocked(ts)
}

// deliverSetLocked gives ww the whole cached set of ts.
func (c *Client) deliverSetLocked(ts *typeState, ww *wildcardWatch, fl *flow) {
	set := make(map[string]ResourceData, len(ts.resources))
	for name, rs := range ts.resources {
		if rs.cache != nil {
			set[name] = rs.cache
		}
	}
	ww.synced = true
	c.schedule(&ww.entry, fl, func(done func()) { ww.w.ResourcesChanged(set, nil, done) })
}

// requestLocked asks for a request of ts's type on the current stream.
func (c *Client) requestLocked(ts *typeState) {
	ts.pending = true
	if c.stream != nil {
		c.stream.signal()
	}
}

// Dump returns the state of every resource the client holds, sorted by type
// and name.
func (c *Client) Dump() []ResourceStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []ResourceStatus
	for _, url := range c.order {
		ts := c.state[url]
		for name, rs := range ts.resources {
			out = append(out, ResourceStatus{
				TypeURL: url, Name: name, Status: rs.status, Version: rs.versionString(),
				Resource: rs.cache, Err: rs.rejection(),
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].TypeURL != out[j].TypeURL {
			return slices.Index(c.order, out[i].TypeURL) < slices.Index(c.order, out[j].TypeURL)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Close stops the client: the stream, the timers and the callbacks. When it
// returns no watcher will be called again and the client's goroutines have
// ended. It is idempotent, and must not be called from a watcher callback.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.disconnectedLocked(ErrClosed)
		for _, ts := range c.state {
			for _, rs := range ts.resources {
				c.stopTimerLocked(rs)
			}
		}
		c.mu.Unlock()
		c.cancel()
		<-c.runDone
		c.cc.Close()
		c.cbs.close()
	})
	return nil
}

// flow counts the callbacks of one response that have not called done yet.
type flow struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func newFlow() *flow { return &flow{n: 1, zero: make(chan struct{})} }

func (f *flow) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *flow) release() {
	f.mu.Lock()
	f.n--
	if f.n == 0 {
		close(f.zero)
	}
	f.mu.Unlock()
}

// wait drops the response's own hold and waits for every callback's done;
// false if ctx ended first.
func (f *flow) wait(ctx context.Context) bool {
	f.release()
	select {
	case <-f.zero:
		return true
	case <-ctx.Done():
		return false
	}
}

func noop() {}

// schedule queues a watcher call. With fl, the call's done releases fl.
func (c *Client) schedule(e *watchEntry, fl *flow, call func(done func())) {
	done := noop
	if fl != nil {
		fl.add()
		done = sync.OnceFunc(fl.release)
	}
	c.cbs.schedule(callback{entry: e, fn: func() { call(done) }, skip: done})
}
