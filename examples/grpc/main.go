// Command grpc routes calls of one grpc.ClientConn through a switchyard
// mesh: a real grpc-go server per endpoint (in memory, over bufconn), a
// canary by metadata and an 80/20 weighted split, printing where the calls
// went.
//
//	go run ./examples/grpc
package main

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"os"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/switchyard-go/switchyard"
)

//go:embed mesh.yaml
var manifests []byte

// server is one endpoint: it answers with its name.
type server struct {
	testpb.UnimplementedTestServiceServer
	name string
}

func (s server) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: []byte(s.name)}}, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "grpc:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := switchyard.Parse(manifests)
	if err != nil {
		return err
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		return err
	}
	defer mesh.Close()

	// One grpc-go server per endpoint, reached in memory: the ClientConn's
	// own context dialer maps each endpoint address to its listener.
	listeners := map[string]*bufconn.Listener{}
	for addr, name := range map[string]string{"10.0.0.1:9080": "v1-a", "10.0.0.2:9080": "v1-b", "10.0.0.3:9080": "v2"} {
		lis := bufconn.Listen(1 << 20)
		srv := grpc.NewServer()
		testpb.RegisterTestServiceServer(srv, server{name: name})
		go srv.Serve(lis)
		defer srv.Stop()
		listeners[addr] = lis
	}
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		lis, ok := listeners[addr]
		if !ok {
			return nil, fmt.Errorf("no endpoint at %s", addr)
		}
		return lis.DialContext(ctx)
	}

	conn, err := grpc.NewClient("reviews:9080", append(mesh.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dialer))...)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)

	fmt.Println("switchyard gRPC: one ClientConn to reviews:9080, routed in-process")
	fmt.Println("  end-user: jason -> v2; everyone else 80% v1, 20% v2")
	fmt.Println()
	for _, user := range []string{"", "jason"} {
		const n = 2000
		counts := map[string]int{}
		for range n {
			ctx := context.Background()
			if user != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "end-user", user)
			}
			resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
			if err != nil {
				return err
			}
			counts[string(resp.GetPayload().GetBody())]++
		}
		who := "anonymous"
		if user != "" {
			who = "end-user: " + user
		}
		fmt.Printf("%-16s %d calls:", who, n)
		names := make([]string, 0, len(counts))
		for name := range counts {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Printf("  %s %5d (%5.1f%%)", name, counts[name], 100*float64(counts[name])/n)
		}
		fmt.Println()
	}
	return nil
}
