// Package meshtest provides in-memory backends for testing code that routes
// through a switchyard mesh, in the spirit of net/http/httptest: no sockets,
// no servers, deterministic behaviour.
//
// A [Network] holds [Backend]s addressed by "host:port". Each backend has a
// name it answers with (in the body and the X-Backend header), labels for
// the ServiceEntry endpoint it stands for, scripted behaviour (status,
// latency, hangs, failures for the first attempts, connection refusals, or
// any http.Handler) and a log of the requests it received. A backend
// behaves as a server across the network does when its caller gives up:
// whatever it is doing ends with the request's context, so route timeouts
// and cancellations fire against it as they do over sockets, and handlers
// run on their own goroutines, streaming their responses.
//
//	net := meshtest.NewNetwork()
//	v1 := net.Add("10.0.0.1:9080", "reviews-v1", map[string]string{"version": "v1"})
//	v2 := net.Add("10.0.0.2:9080", "reviews-v2", map[string]string{"version": "v2"})
//	cfg.ServiceEntries = append(cfg.ServiceEntries, meshtest.ServiceEntry("reviews", 9080, v1, v2))
//	mesh, _ := switchyard.New(cfg)
//	client := &http.Client{Transport: mesh.Transport(net.Transport())}
//
// [Clock] and [NewRand] make time and randomness deterministic for
// switchyard.WithClock and switchyard.WithRand.
package meshtest
