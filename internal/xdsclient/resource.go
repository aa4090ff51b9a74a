package xdsclient

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Type URLs of the v3 resources the client knows.
const (
	ListenerTypeURL = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteTypeURL    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterTypeURL  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointTypeURL = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

	// resourceWrapperURL is the envelope a server may put around each
	// resource of a SotW response (client feature
	// "xds.config.resource-in-sotw").
	resourceWrapperURL = "type.googleapis.com/envoy.service.discovery.v3.Resource"
)

// ResourceType describes one kind of xDS resource.
type ResourceType struct {
	// TypeURL is the resource's v3 type URL, as it appears in requests and
	// responses.
	TypeURL string
	// TypeName is a short name for messages ("Listener").
	TypeName string
	// AllResourcesRequiredInSotW says that every SotW response of this type
	// lists every resource the client subscribes to (Listener and Cluster):
	// a subscribed resource absent from a response has been deleted. Only
	// such types can be watched by wildcard.
	AllResourcesRequiredInSotW bool
	// Decoder deserialises and validates one resource.
	Decoder Decoder
}

// Decoder deserialises and validates one resource of a type. Decode is called
// once per resource per response, from one goroutine at a time, except for a
// resource re-sent byte for byte as the client caches it (recognised by the
// digest of its bytes), whose cached result is reused.
type Decoder interface {
	// Decode turns raw (already taken out of any discovery Resource
	// envelope, and of the Decoder's type) into ResourceData. When the bytes
	// cannot be deserialised it returns a nil result and an error; when they
	// can but the resource is invalid it returns a result carrying the name
	// and an error, which names the resource in the NACK and keeps the last
	// good version in use. Errors should say which field is wrong and why.
	Decode(raw *anypb.Any, opts DecodeOptions) (*DecodeResult, error)
}

// DecodeOptions is what a Decoder may consult besides the resource.
type DecodeOptions struct {
	// Server is the control plane that sent the resource.
	Server ServerConfig
}

// DecodeResult is a decoded resource.
type DecodeResult struct {
	// Name is the resource's name.
	Name string
	// Resource is the decoded resource; nil when Decode returns an error.
	Resource ResourceData
}

// ResourceData is a decoded resource, whatever its Decoder makes of it.
// Values are shared between watchers and must not be modified. The client
// does not keep the bytes a resource was decoded from, only their digest:
// watchers are not notified of a resource re-sent byte for byte as cached,
// and it is not decoded again. (Serialisation is not canonical, so an equal
// resource serialised differently is a change; the cost is a redundant
// notification.)
type ResourceData any

// ProtoResource is the ResourceData of the built-in resource types: the
// message as received.
type ProtoResource[M proto.Message] struct {
	// Message is the deserialised resource. It must not be modified.
	Message M
}

// protoDecoder decodes a message of one type, checks the rules Envoy's API
// attaches to it (protoc-gen-validate), then runs an optional validator.
type protoDecoder[M interface {
	proto.Message
	ValidateAll() error
}] struct {
	newMsg   func() M
	name     func(M) string
	validate func(M) error
}

func (d protoDecoder[M]) Decode(raw *anypb.Any, _ DecodeOptions) (*DecodeResult, error) {
	m := d.newMsg()
	if err := proto.Unmarshal(raw.GetValue(), m); err != nil {
		return nil, fmt.Errorf("cannot deserialise %s: %v", raw.GetTypeUrl(), err)
	}
	name := d.name(m)
	res := &DecodeResult{Name: name}
	if name == "" {
		return nil, fmt.Errorf("%s has no name", raw.GetTypeUrl())
	}
	if err := m.ValidateAll(); err != nil {
		return res, err
	}
	if d.validate != nil {
		if err := d.validate(m); err != nil {
			return res, err
		}
	}
	res.Resource = &ProtoResource[M]{Message: m}
	return res, nil
}

// ListenerType is the Listener resource type (LDS). validate, if not nil,
// runs after Envoy's own field rules and rejects what the caller cannot use.
func ListenerType(validate func(*listenerv3.Listener) error) ResourceType {
	return ResourceType{
		TypeURL: ListenerTypeURL, TypeName: "Listener", AllResourcesRequiredInSotW: true,
		Decoder: protoDecoder[*listenerv3.Listener]{
			newMsg:   func() *listenerv3.Listener { return new(listenerv3.Listener) },
			name:     (*listenerv3.Listener).GetName,
			validate: validate,
		},
	}
}

// RouteType is the RouteConfiguration resource type (RDS).
func RouteType(validate func(*routev3.RouteConfiguration) error) ResourceType {
	return ResourceType{
		TypeURL: RouteTypeURL, TypeName: "RouteConfiguration",
		Decoder: protoDecoder[*routev3.RouteConfiguration]{
			newMsg:   func() *routev3.RouteConfiguration { return new(routev3.RouteConfiguration) },
			name:     (*routev3.RouteConfiguration).GetName,
			validate: validate,
		},
	}
}

// ClusterType is the Cluster resource type (CDS).
func ClusterType(validate func(*clusterv3.Cluster) error) ResourceType {
	return ResourceType{
		TypeURL: ClusterTypeURL, TypeName: "Cluster", AllResourcesRequiredInSotW: true,
		Decoder: protoDecoder[*clusterv3.Cluster]{
			newMsg:   func() *clusterv3.Cluster { return new(clusterv3.Cluster) },
			name:     (*clusterv3.Cluster).GetName,
			validate: validate,
		},
	}
}

// EndpointType is the ClusterLoadAssignment resource type (EDS), named by
// its cluster_name.
func EndpointType(validate func(*endpointv3.ClusterLoadAssignment) error) ResourceType {
	return ResourceType{
		TypeURL: EndpointTypeURL, TypeName: "ClusterLoadAssignment",
		Decoder: protoDecoder[*endpointv3.ClusterLoadAssignment]{
			newMsg:   func() *endpointv3.ClusterLoadAssignment { return new(endpointv3.ClusterLoadAssignment) },
			name:     (*endpointv3.ClusterLoadAssignment).GetClusterName,
			validate: validate,
		},
	}
}

// DefaultResourceTypes returns the four types of the LDS→RDS→CDS→EDS walk
// with Envoy's field rules only.
func DefaultResourceTypes() []ResourceType {
	return []ResourceType{ListenerType(nil), RouteType(nil), ClusterType(nil), EndpointType(nil)}
}
