// What Java says in each situation of the book's chapter "Your runtime's words".
//
// Usage: java Client.java socket|http PLAN HOST:PORT (Java 11 and later run a single source
// file as it is). PLAN is the steps to take, as every client of examples/runtimes/ reads it:
// `write:5 sleep:100 read` for java.net.Socket, `get sleep:200 get` or `post:20000` for
// java.net.http.HttpClient (HTTP/1.1, which keeps the connection alive). One line per step:
// `write 5: ok`, `read: ok(30)`, `read: EOF (read returned -1)`, `get: 200 "hello\n"`, or the
// step and `ERROR` with the exception's toString(). `rstlab runtimes` runs it against the
// peer; it checks nothing itself.
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;

public class Client {
    public static void main(String[] args) throws Exception {
        String api = args[0];
        String[] steps = args[1].trim().split("\\s+");
        String addr = args[2];
        int colon = addr.lastIndexOf(':');
        String host = addr.substring(0, colon);
        int port = Integer.parseInt(addr.substring(colon + 1));
        if (api.equals("socket")) {
            socket(host, port, steps);
        } else {
            http(addr, steps);
        }
    }

    static int count(String step) {
        int colon = step.indexOf(':');
        return colon < 0 ? 0 : Integer.parseInt(step.substring(colon + 1));
    }

    static void socket(String host, int port, String[] steps) throws Exception {
        Socket s = new Socket();
        s.connect(new InetSocketAddress(host, port));
        s.setTcpNoDelay(true);
        s.setSoTimeout(2000);
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        for (String step : steps) {
            String op = step.split(":")[0];
            int n = count(step);
            if (op.equals("write")) {
                try {
                    byte[] bytes = new byte[n];
                    Arrays.fill(bytes, (byte) 'x');
                    out.write(bytes);
                    out.flush();
                    System.out.println("write " + n + ": ok");
                } catch (Exception e) {
                    System.out.println("write " + n + ": ERROR " + e);
                }
            } else if (op.equals("read")) {
                try {
                    int k = in.read(new byte[4096]);
                    System.out.println(k < 0 ? "read: EOF (read returned -1)" : "read: ok(" + k + ")");
                } catch (Exception e) {
                    System.out.println("read: ERROR " + e);
                }
            } else if (op.equals("sleep")) {
                Thread.sleep(n);
            }
        }
        s.close();
    }

    static void http(String addr, String[] steps) throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        URI uri = URI.create("http://" + addr + "/");
        for (String step : steps) {
            String op = step.split(":")[0];
            int n = count(step);
            if (op.equals("sleep")) {
                Thread.sleep(n);
                continue;
            }
            HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(3));
            if (op.equals("post")) {
                byte[] bytes = new byte[n];
                Arrays.fill(bytes, (byte) 'x');
                request.POST(HttpRequest.BodyPublishers.ofByteArray(bytes));
            }
            try {
                HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
                System.out.println(op + ": " + response.statusCode() + " " + quoted(response.body()));
            } catch (Exception e) {
                System.out.println(op + ": ERROR " + e);
            }
        }
    }

    static String quoted(String body) {
        return "\"" + body.replace("\n", "\\n") + "\"";
    }
}
