package PTTH::SockDiag;
# The machine's TCP sockets in a given state, by port, from the kernel's
# inet_diag netlink interface (linux/inet_diag.h), the one `ss` uses.
#
# Why not /proc/net/tcp: a suite run leaves about 10,000 connections in
# TIME_WAIT, and the text file lists every one of them; reading and
# parsing it cost 20-30 ms of CPU per call, and the harness polls it.
# Here the kernel filters by state, so a dump returns only the sockets
# asked for (the established ones are a few hundred at most), in binary.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use Socket qw(AF_INET SOCK_RAW);
use Exporter 'import';
our @EXPORT_OK = qw(tcp_sockets TCP_ESTABLISHED TCP_LISTEN);

use constant {
    PF_NETLINK          => 16,
    NETLINK_INET_DIAG   => 4,
    TCPDIAG_GETSOCK     => 18,
    NLM_F_REQUEST       => 0x1,
    NLM_F_DUMP          => 0x300,
    NLMSG_ERROR         => 2,
    NLMSG_DONE          => 3,
    TCP_ESTABLISHED     => 1,
    TCP_LISTEN          => 10,
};

# One dump of the TCP sockets of both address families in the states of
# the bit mask $states.  It uses the original inet_diag request
# (TCPDIAG_GETSOCK, struct inet_diag_req), which walks the kernel's one
# TCP hash table once for IPv4 and IPv6 alike, where SOCK_DIAG_BY_FAMILY
# would walk it once per family: the walk, not the answer, is the cost
# (about 1 ms with the table's half a million buckets).  Returns
# (array of hashes: local, peer ("addr:port"), lport, pport, inode,
# state; true when all the sockets came in one message batch, i.e. from one
# pass of the kernel over its table that did not stop and resume: the
# kernel fills a batch until it is full or the table ends, and the end of
# the dump follows in a batch of its own), or () when netlink cannot be
# used.
sub dump_tcp {
    my ($states) = @_;
    socket(my $s, PF_NETLINK, SOCK_RAW, NETLINK_INET_DIAG) or return;
    # struct inet_diag_req: family (0: both), src_len, dst_len, ext, a
    # zeroed struct inet_diag_sockid (48 bytes: no address filter),
    # states, dbs.
    my $req = pack('CCCC', 0, 0, 0, 0) . ("\0" x 48) . pack('LL', $states, 0);
    my $msg = pack('LSSLL', 16 + length $req, TCPDIAG_GETSOCK,
                   NLM_F_REQUEST | NLM_F_DUMP, 1, 0) . $req;
    my $kernel = pack('SSLL', PF_NETLINK, 0, 0, 0);     # struct sockaddr_nl
    defined send($s, $msg, 0, $kernel) or return;
    my @out;
    my $batches = 0;            # batches that held sockets
    while (1) {
        defined recv($s, my $buf, 1 << 20, 0) or return;
        return unless length $buf;
        my ($off, $held) = (0, 0);
        while ($off + 16 <= length $buf) {
            my ($len, $type) = unpack('LS', substr($buf, $off, 6));
            return if $len < 16 || $off + $len > length $buf;
            return (\@out, $batches + $held <= 1) if $type == NLMSG_DONE;
            return if $type == NLMSG_ERROR;
            if ($type == TCPDIAG_GETSOCK && $len >= 16 + 72) {
                $held = 1;
                # struct inet_diag_msg: family, state, timer, retrans, the
                # sockid (ports and addresses in network order), expires,
                # rqueue, wqueue, uid, inode.
                my $m = substr($buf, $off + 16, 72);
                my ($fam, $state) = unpack('CC', $m);
                my ($lport, $pport) = unpack('nn', substr($m, 4, 4));
                my ($la, $pa) = (substr($m, 8, 16), substr($m, 24, 16));
                my $inode = unpack('L', substr($m, 68, 4));
                my ($ls, $ps) = $fam == AF_INET
                    ? (join('.', unpack('C4', $la)), join('.', unpack('C4', $pa)))
                    : (unpack('H*', $la), unpack('H*', $pa));
                push @out, { local => "$ls:$lport", peer => "$ps:$pport",
                             lport => $lport, pport => $pport,
                             inode => $inode, state => $state };
            }
            $off += ($len + 3) & ~3;
        }
        $batches += $held;
    }
}

# TCP sockets (IPv4 and IPv6) in state $state (TCP_ESTABLISHED,
# TCP_LISTEN) whose local port (or, with $peer true, remote port) is
# $port.  Returns (array of hashes as dump_tcp, whether it came from one
# pass), or () when the kernel's inet_diag cannot be used (the caller
# falls back).
sub tcp_sockets {
    my ($state, $port, $peer) = @_;
    my ($all, $one_pass) = dump_tcp(1 << $state) or return;
    return ([grep { ($peer ? $_->{pport} : $_->{lport}) == $port } @$all], $one_pass);
}

1;
