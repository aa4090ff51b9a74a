package xdsclient

import (
	"errors"
	"fmt"
)

// ResourceWatcher hears about one resource, watched by name. The client calls
// its methods one at a time, on one goroutine. No call starts after the
// watch's cancel func has returned (a call already running, such as the one
// that calls cancel, finishes), and none runs after the client's Close has
// returned. Each method gets a
// done func that must be called, once, when the watcher has finished with
// the event (possibly later, from another goroutine): the client reads the
// control plane's next response only after every watcher is done with the
// current one.
type ResourceWatcher interface {
	// ResourceChanged delivers a new good version of the resource.
	ResourceChanged(r ResourceData, done func())
	// ResourceError says the resource is unusable: it does not exist, was
	// removed, or was sent invalid with no good version to fall back on, or
	// the control plane cannot be reached and no version was ever received.
	// Any previously delivered version must no longer be used.
	ResourceError(err error, done func())
	// AmbientError reports trouble that leaves the last delivered version in
	// force: the control plane is unreachable, or a newer version of the
	// resource was invalid (and NACKed).
	AmbientError(err error, done func())
}

// NamesWatcher hears about the resources of one type that a [NamesWatch]
// names, each call naming its resource. Its calls follow the rules of
// [ResourceWatcher], per name: none about a name starts after the Remove of
// that name has returned (a call already running finishes).
type NamesWatcher interface {
	// ResourceChanged is [ResourceWatcher.ResourceChanged] of the
	// resource called name.
	ResourceChanged(name string, r ResourceData, done func())
	// ResourceError is [ResourceWatcher.ResourceError] of the resource
	// called name.
	ResourceError(name string, err error, done func())
	// AmbientError is [ResourceWatcher.AmbientError] of the resource
	// called name.
	AmbientError(name string, err error, done func())
}

// WildcardWatcher hears about every resource of one type (LDS or CDS, for
// the sidecar persona). Its calls follow the rules of [ResourceWatcher].
type WildcardWatcher interface {
	// ResourcesChanged delivers, for one response, the resources that are
	// new or changed (by name) and the names of those removed. The current
	// set is the union of every call so far. The first call after the watch
	// starts carries the whole set known at that time, and comes even when
	// that set is empty, once the server has answered.
	ResourcesChanged(changed map[string]ResourceData, removed []string, done func())
	// AmbientError reports trouble that leaves the current set in force:
	// the control plane is unreachable, or a resource was invalid (and
	// NACKed; its last good version, if any, stays in the set).
	AmbientError(err error, done func())
}

// Errors the client reports, wrapped with the detail; test with errors.Is.
var (
	// ErrResourceNotFound: the resource does not exist (not sent within
	// the watch expiry timeout) or was removed by the server.
	ErrResourceNotFound = errors.New("xdsclient: resource does not exist")
	// ErrInvalidResource: the server sent the resource and the client
	// rejected it (and NACKed the response).
	ErrInvalidResource = errors.New("xdsclient: invalid resource")
	// ErrUnreachable: the ADS stream failed before the server answered.
	ErrUnreachable = errors.New("xdsclient: control plane unreachable")
	// ErrClosed: the client has been closed.
	ErrClosed = errors.New("xdsclient: client closed")
)

// InvalidResourceError is the error for a resource the client rejected
// (errors.Is it ErrInvalidResource); it names the resource, so that a
// wildcard watcher can tell which one.
type InvalidResourceError struct {
	// TypeName is the resource type's name ("Cluster"), Name the
	// resource's and Version the one it was sent with (the response's in
	// State of the World, the resource's own in Delta).
	TypeName, Name, Version string
	// Err is why the resource was rejected.
	Err error
}

func (e *InvalidResourceError) Error() string {
	return fmt.Sprintf("%v: %s %q version %q: %v", ErrInvalidResource, e.TypeName, e.Name, e.Version, e.Err)
}

// Is reports ErrInvalidResource.
func (e *InvalidResourceError) Is(target error) bool { return target == ErrInvalidResource }

// Unwrap returns why the resource was rejected.
func (e *InvalidResourceError) Unwrap() error { return e.Err }
