package xdsclient

import "time"

// ConnectionState is where the client's link with its server stands.
type ConnectionState struct {
	// Server is the server's URI.
	Server string
	// Connected is true while a stream is up on which the server has
	// answered.
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

// disconnectedLocked notes that a stream ended, or could not start, with
// cause; a nil cause (a Delta stream refused, State of the World to follow)
// changes nothing.
func (c *Client) disconnectedLocked(cause error) {
	if cause == nil {
		return
	}
	if c.connected || c.connSince.IsZero() {
		c.connSince = c.clk.Now()
	}
	c.connected, c.connErr = false, cause
}
