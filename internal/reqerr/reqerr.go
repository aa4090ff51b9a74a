// Package reqerr tells the errors that originate in a request itself (a
// header value with CR/LF, an invalid method, a body that fails or does
// not match its ContentLength) from the failures of the endpoint it was
// sent to. The mesh returns such an error to its caller as it is, as
// net/http would have: it is never retried and never counted against an
// endpoint.
package reqerr

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/switchyard-go/switchyard/internal/replay"
)

// Error is an error the mesh returns to its caller as it is: never
// retried, never counted against an endpoint.
type Error struct{ Err error }

// Error returns the message of the underlying error.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Retriable reports false: the attempt loop ends.
func (e *Error) Retriable() bool { return false }

// Wrap marks err to be returned to the caller as it is.
func Wrap(err error) error { return &Error{Err: err} }

// Unwrap returns the error to give the caller if err was marked by Wrap
// (or Of), and whether it was.
func Unwrap(err error) (error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Err, true
	}
	return nil, false
}

// Of returns err marked as the request's own when it originates in req
// rather than in the endpoint, and nil otherwise. req is the request as
// it was given to the transport that failed with err. It is meant for the
// error path only: it checks the request the way net/http's transport does
// before sending it.
func Of(req *http.Request, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := Unwrap(err); ok {
		return err
	}
	var body *replay.Error
	if errors.As(err, &body) {
		// The caller's body failed (its own error is what net/http
		// would have returned), or a mirror's copy could not be made.
		return Wrap(body.Err)
	}
	// HTTP/1.1 refuses a body that does not match its ContentLength, or a
	// ContentLength without a body, and closes the connection: its error
	// can lose the race with the read of the closed connection ("use of
	// closed network connection", net.ErrClosed). The error it means is
	// the refusal.
	closed := errors.Is(err, net.ErrClosed)
	if b := replay.Of(req.Body); b != nil {
		if lengthErr := b.LengthError(); lengthErr != nil {
			if closed {
				return Wrap(lengthErr)
			}
			return Wrap(err)
		}
	}
	if req.Body == nil && req.ContentLength != 0 && closed {
		return Wrap(fmt.Errorf("http: Request.ContentLength=%d with nil Body", req.ContentLength))
	}
	if Invalid(req) != "" || rejected(err) {
		return Wrap(err)
	}
	return nil
}

// Invalid says what net/http's transport rejects in req before it sends
// anything, over HTTP/1.1 and HTTP/2 alike, or returns "" if nothing.
func Invalid(req *http.Request) string {
	switch {
	case req.URL == nil:
		return "nil URL"
	case req.Header == nil:
		return "nil Header"
	case req.URL.Scheme != "http" && req.URL.Scheme != "https":
		return "unsupported protocol scheme"
	case req.Method != "" && !validMethod(req.Method):
		return "invalid method"
	case req.URL.Host == "":
		return "no Host in request URL"
	}
	if what := invalidFields(req.Header); what != "" {
		return "invalid header " + what
	}
	if what := invalidFields(req.Trailer); what != "" {
		return "invalid trailer " + what
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if _, err := httpguts.PunycodeHostPort(host); err != nil {
		return "invalid host"
	}
	return ""
}

func invalidFields(h http.Header) string {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return "field name"
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "field value"
			}
		}
	}
	return ""
}

// validMethod reports whether m is an RFC 9110 token, as net/http
// requires of a method.
func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return true
}

// rejections are the messages of the errors with which net/http's
// transports refuse a request that only one protocol, or only the
// server's advertised limits, forbid: checked once the transport has
// failed, as the request alone cannot tell.
var rejections = []string{
	"net/http: can't write control character in Request.URL", // HTTP/1.1
	"http: ContentLength=", // HTTP/1.1: the body's length differs
	"with nil Body",        // a ContentLength without a body
	"request body larger than specified content length",       // HTTP/2
	"invalid Host header",                                     // HTTP/2
	"invalid Upgrade request header",                          // HTTP/2
	"invalid Transfer-Encoding request header",                // HTTP/2
	"invalid Connection request header",                       // HTTP/2
	"invalid request :path",                                   // HTTP/2
	"invalid :protocol header",                                // HTTP/2
	"invalid Trailer key",                                     // HTTP/2
	"request header list larger than peer's advertised limit", // HTTP/2: the server's SETTINGS_MAX_HEADER_LIST_SIZE
}

func rejected(err error) bool {
	msg := err.Error()
	for _, r := range rejections {
		if strings.Contains(msg, r) {
			return true
		}
	}
	return false
}
