package xdsclient

import "time"

// ConnectionState is where the client's link with its server stands.
type ConnectionState struct {
	// Server is the server's URI.
	Server string
	// Connected is true while a stream is up on which the server has
	// answered (over Delta, once the server has answered a Delta stream
	// before, a new stream is up once the client's requests went out on
	// it: the server need not resend what the client holds).
	Connected bool
	// Since is when Connected last changed; the zero time before the
	// first answer or failure.
	Since time.Time
	// Err, while not Connected, says why the last stream ended or could
	// not start (ErrClosed once the client is closed); nil before the
	// first attempt ends.
	Err error
}

// ConnectionState returns where the link with the server stands now.
func (c *Client) ConnectionState() ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConnectionState{Server: c.server.URI, Connected: c.connected, Since: c.connSince, Err: c.connErr}
}

// answeredLocked notes that the server answered on stream st.
func (c *Client) answeredLocked(st *adsStream) {
	if c.stream == st && !c.connected {
		c.connected, c.connSince, c.connErr = true, c.clk.Now(), nil
	}
}

// subscribedOn notes that requests went out on Delta stream st. A server
// that has answered Delta before may rightly say nothing on a new stream
// (nothing changed since the versions the client gave it): the stream being
// up (gRPC opened it on a ready connection and took the requests) is the
// answer.
func (c *Client) subscribedOn(st *adsStream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deltaHeard && !c.closed {
		c.answeredLocked(st)
	}
}

// disconnectedLocked notes that a stream ended, or could not start, with
// cause. A nil cause (a Delta stream refused, State of the World to follow)
// is no failure: it changes nothing, unless the refused stream was taken
// for connected (see subscribedOn).
func (c *Client) disconnectedLocked(cause error) {
	if cause == nil && !c.connected {
		return
	}
	if c.connected || c.connSince.IsZero() {
		c.connSince = c.clk.Now()
	}
	c.connected, c.connErr = false, cause
}
