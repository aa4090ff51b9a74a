package switchyard_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard-go/switchyard"
)

// A Gateway served in-process: the VirtualService bound to it routes
// requests for shop.example.com arriving on the gateway's port 8080 to
// the cart service.
func ExampleMesh_Gateway() {
	cart := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "cart saw %s%s", r.Host, r.URL.Path)
	}))
	defer cart.Close()
	_, port, _ := net.SplitHostPort(cart.Listener.Addr().String())
	cfg, err := switchyard.Parse([]byte(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cart}
spec:
  hosts: [cart]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ` + port + `}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: [shop.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http:
  - match: [{uri: {prefix: /cart}}]
    route: [{destination: {host: cart}}]
`))
	if err != nil {
		panic(err)
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		panic(err)
	}
	defer mesh.Close()

	srv, err := mesh.Gateway("edge", 8080) // "default/edge"
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln) // srv.ServeTLS(ln, "", "") for a port that terminates TLS
	defer srv.Close()

	for _, path := range []string{"/cart/42", "/admin"} {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+path, nil)
		req.Host = "shop.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// 200 cart saw shop.example.com/cart/42
	// 404
}
