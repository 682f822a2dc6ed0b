// What Go says in each situation of the book's chapter "Your runtime's words".
//
// Usage: go run client.go net|net/http PLAN HOST:PORT. PLAN is the steps to take, as every
// client of examples/runtimes/ reads it: `write:5 sleep:100 read` for a socket, `get sleep:200
// get` or `post:20000` for HTTP (net/http's default transport, which keeps the connection
// alive). One line per step: `write 5: ok`, `read: ok(30)`, `read: EOF (err = EOF)`,
// `get: 200 "hello\n"`, or the step and `ERROR` with err.Error(). `rstlab runtimes` runs it
// against the peer; it checks nothing itself.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

type step struct {
	op string
	n  int
}

func main() {
	api, plan, addr := os.Args[1], os.Args[2], os.Args[3]
	var steps []step
	for _, s := range strings.Fields(plan) {
		op, n, _ := strings.Cut(s, ":")
		k, _ := strconv.Atoi(n)
		steps = append(steps, step{op, k})
	}
	if api == "net" {
		netClient(addr, steps)
	} else {
		httpClient(addr, steps)
	}
}

func netClient(addr string, steps []step) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Printf("connect: ERROR %v\n", err)
		return
	}
	for _, s := range steps {
		switch s.op {
		case "write":
			if _, err := conn.Write(bytes.Repeat([]byte("x"), s.n)); err != nil {
				fmt.Printf("write %d: ERROR %v\n", s.n, err)
			} else {
				fmt.Printf("write %d: ok\n", s.n)
			}
		case "read":
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4096)
			n, err := conn.Read(buf)
			switch {
			case err == io.EOF:
				fmt.Println("read: EOF (err = EOF)")
			case err != nil:
				fmt.Printf("read: ERROR %v\n", err)
			default:
				fmt.Printf("read: ok(%d)\n", n)
			}
		case "sleep":
			time.Sleep(time.Duration(s.n) * time.Millisecond)
		}
	}
}

func httpClient(addr string, steps []step) {
	client := &http.Client{Timeout: 3 * time.Second}
	url := "http://" + addr + "/"
	for _, s := range steps {
		var resp *http.Response
		var err error
		switch s.op {
		case "sleep":
			time.Sleep(time.Duration(s.n) * time.Millisecond)
			continue
		case "get":
			resp, err = client.Get(url)
		case "post":
			resp, err = client.Post(url, "application/octet-stream", bytes.NewReader(bytes.Repeat([]byte("x"), s.n)))
		}
		if err != nil {
			fmt.Printf("%s: ERROR %v\n", s.op, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			fmt.Printf("%s: ERROR %v\n", s.op, err)
			continue
		}
		fmt.Printf("%s: %d %q\n", s.op, resp.StatusCode, body)
	}
}
