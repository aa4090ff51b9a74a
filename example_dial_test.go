package switchyard_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strings"

	"github.com/switchyard-go/switchyard"
)

// A tcp route sends connections made with DialContext to a database's
// primary: any client that takes a dialer (a database driver, Redis,
// plain net) dials "db:5432" and reaches the endpoint the mesh picks.
func ExampleMesh_DialContext() {
	// A stand-in for the database: it answers one line.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "primary says hello\n")
	}()

	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db]
  ports: [{number: 5432, name: tcp-postgres, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {tcp-postgres: %d}, labels: {role: primary}}
  - {address: 127.0.0.1, ports: {tcp-postgres: 1}, labels: {role: replica}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 50, connectTimeout: 2s}}}
  subsets:
  - {name: primary, labels: {role: primary}}
  - {name: replica, labels: {role: replica}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - route: [{destination: {host: db, subset: primary}}]
`, ln.Addr().(*net.TCPAddr).Port)))
	if err != nil {
		log.Fatal(err)
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer mesh.Close()

	conn, err := mesh.DialContext(context.Background(), "tcp", "db:5432")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimSpace(line))
	// Output: primary says hello
}

// A Dialer is the value to give a client that takes a dialer: here
// net/http, whose TLS connections a tls route sends by the server name of
// the ClientHello, without terminating TLS.
func ExampleDialer() {
	cfg, err := switchyard.Parse([]byte(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.internal]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.7}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: ["*.example.com"]
  tls:
  - match: [{port: 443, sniHosts: [api.example.com]}]
    route: [{destination: {host: api.internal}}]
`))
	if err != nil {
		log.Fatal(err)
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer mesh.Close()
	d := mesh.Dialer()
	// For example: &http.Transport{DialContext: d.DialContext}, or a
	// database driver's dialer option.
	fmt.Printf("%T\n", d.DialContext)
	// Output: func(context.Context, string, string) (net.Conn, error)
}
