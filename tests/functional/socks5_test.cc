// Outbound connections through a SOCKS5 proxy (ZMQ_SOCKS_PROXY), as
// government networks often require. The proxy is a minimal SOCKS5 CONNECT
// relay in this test that only ever connects to 127.0.0.1.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

bool ReadFull(int fd, void* buf, size_t n) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

class Socks5Proxy {
 public:
  Socks5Proxy() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(listen_fd_, 16);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~Socks5Proxy() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    for (auto& t : relays_) t.join();
  }

  int port() const { return port_; }
  std::vector<int> destinations() {
    std::lock_guard<std::mutex> lock(mu_);
    return destinations_;
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      relays_.emplace_back([this, client] { Serve(client); });
    }
  }

  void Serve(int client) {
    uint8_t hello[2];
    uint8_t methods[255];
    uint8_t req[4];
    if (!ReadFull(client, hello, 2) || hello[0] != 5 || !ReadFull(client, methods, hello[1])) {
      ::close(client);
      return;
    }
    const uint8_t choice[2] = {5, 0};  // no authentication
    (void)::write(client, choice, 2);
    if (!ReadFull(client, req, 4) || req[1] != 1) {
      ::close(client);
      return;
    }
    in_addr ip{};
    if (req[3] == 1) {
      if (!ReadFull(client, &ip, 4)) return (void)::close(client);
    } else if (req[3] == 3) {
      uint8_t n = 0;
      char name[256] = {};
      if (!ReadFull(client, &n, 1) || !ReadFull(client, name, n)) return (void)::close(client);
      ::inet_pton(AF_INET, name, &ip);
    }
    uint16_t port_be = 0;
    if (!ReadFull(client, &port_be, 2)) return (void)::close(client);
    if (ip.s_addr != htonl(INADDR_LOOPBACK)) return (void)::close(client);  // loopback only
    const int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr = ip;
    to.sin_port = port_be;
    const bool ok = ::connect(upstream, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
    const uint8_t reply[10] = {5, static_cast<uint8_t>(ok ? 0 : 5), 0, 1, 0, 0, 0, 0, 0, 0};
    (void)::write(client, reply, sizeof reply);
    if (ok) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        destinations_.push_back(ntohs(port_be));
      }
      Relay(client, upstream);
    }
    ::close(upstream);
    ::close(client);
  }

  void Relay(int a, int b) {
    char buf[16384];
    while (!stop_) {
      pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (::poll(fds, 2, 200) < 0) return;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) return;
        if (::write(fds[1 - i].fd, buf, static_cast<size_t>(n)) != n) return;
      }
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> relays_;
  std::mutex mu_;
  std::vector<int> destinations_;
};

TEST(Socks5Test, OutboundConnectionsGoThroughTheConfiguredProxy) {
  Socks5Proxy proxy;
  TempDir dir;
  Node a(dir.path(), "proxied");
  Node b(dir.path(), "direct");
  a.Trust(b);
  b.Trust(a);
  std::ofstream(a.home() + "/node.toml", std::ios::app)
      << "socks_proxy = \"127.0.0.1:" << proxy.port() << "\"\n";  // in [transport]
  a.Start();
  b.Start();
  const std::string id = a.Send({"--to", "direct", "--subject", "via proxy", "--body", "p"});
  EXPECT_TRUE(a.WaitOutboxState(id, "delivered")) << a.Log() << b.Log();
  const std::string ep = b.endpoint();
  const int b_port = std::stoi(ep.substr(ep.rfind(':') + 1));
  auto dest = proxy.destinations();
  ASSERT_FALSE(dest.empty());
  EXPECT_EQ(dest[0], b_port);
  a.Stop();
  b.Stop();
}

}  // namespace
}  // namespace rogatory::test
