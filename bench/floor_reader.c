/* The least any DHCP client can spend on a reply that reaches it: bench/flood.sh with
 * FLOOR=1 runs this beside `qinit dhcp` on the same link and measures both. It opens one
 * packet socket on IFACE (IPv4 frames, no filter, as a client that must see its own
 * replies), and for each wakeup of poll() reads every queued frame and drops it: no
 * parsing, no second socket, no timers. Whatever a real client spends on a reply it
 * cannot refuse in the kernel is at least this.
 *   floor_reader IFACE */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: floor_reader IFACE\n");
        return 2;
    }
    int s = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
    struct sockaddr_ll a = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_IP),
        .sll_ifindex = (int)if_nametoindex(argv[1]),
    };
    if (s < 0 || a.sll_ifindex == 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("floor_reader");
        return 1;
    }
    char buf[2048];
    struct pollfd p = {.fd = s, .events = POLLIN};
    for (;;) {
        if (poll(&p, 1, -1) < 0)
            continue;
        while (recv(s, buf, sizeof buf, MSG_DONTWAIT) >= 0)
            ;
    }
}
