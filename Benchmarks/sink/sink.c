/*
 * A NATS server stand-in that discards what it is sent, to measure a publisher alone:
 *
 *   sink PORT
 *
 * Listens on 127.0.0.1:PORT, prints READY, and serves one connection at a time: sends an
 * INFO, reads everything and throws it away, and answers PONG whenever the bytes so far
 * end in PING\r\n (the CONNECT's PING and a flush's). It does not parse: it is for
 * natsbench's `pub` mode, whose payloads are runs of one letter. Benchmarks/client-only.sh
 * builds and runs it.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char INFO[] =
    "INFO {\"server_id\":\"sink\",\"server_name\":\"sink\",\"version\":\"2.15.1\",\"proto\":1,"
    "\"host\":\"127.0.0.1\",\"port\":4222,\"headers\":true,\"max_payload\":1048576}\r\n";

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: sink PORT\n");
        return 2;
    }
    int one = 1;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(0x7f000001);
    if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(ls, 8) != 0) {
        perror("sink: listen");
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    static char buf[1 << 18];
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (write_all(c, INFO, sizeof INFO - 1) != 0) {
            close(c);
            continue;
        }
        char tail[6] = {0};  /* the last six bytes read, across reads */
        for (;;) {
            ssize_t r = read(c, buf, sizeof buf);
            if (r <= 0) break;
            if (r >= 6) {
                memcpy(tail, buf + r - 6, 6);
            } else {
                memmove(tail, tail + r, (size_t)(6 - r));
                memcpy(tail + 6 - r, buf, (size_t)r);
            }
            if (memcmp(tail, "PING\r\n", 6) == 0 && write_all(c, "PONG\r\n", 6) != 0) break;
        }
        close(c);
    }
}
