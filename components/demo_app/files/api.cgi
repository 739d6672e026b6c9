#!/usr/bin/perl
# /api/ handler of the chaos-lab backend tier, run by Apache httpd's mod_cgid once per request.
#
# Counts the request in Redis (INCR chaoslab:requests) and answers 200 JSON with the new count.
# Connecting, writing and reading share ONE deadline of REDIS_TIMEOUT_MS, so a dead, partitioned
# or slow Redis becomes a 503 JSON answer within that deadline instead of a hanging request.
# Resolving REDIS_HOST counts against the deadline but cannot be cut short without signals;
# httpd's CGIDScriptTimeout is the backstop for a lookup that hangs.
#
# Only perl-base modules: the httpd:2.4 image has perl-base (Essential in Debian) but not
# perl-modules, so no JSON::PP and no Time::HiRes; and no python or redis-cli either.
# Configuration comes from the environment, set by SetEnv in the rendered httpd.conf.
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(inet_aton inet_ntoa);

my $COUNTER_KEY = 'chaoslab:requests';
my $CLOCK_TICKS_PER_SECOND = POSIX::sysconf(POSIX::_SC_CLK_TCK());

# Monotonic seconds from times(2): sub-second (one clock tick, 10 ms on Linux) unlike time(),
# immune to wall-clock steps, and available without Time::HiRes.
sub now { return (POSIX::times())[0] / $CLOCK_TICKS_PER_SECOND }

sub json_string {
    my ($text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    $text =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;
    return qq("$text");
}

# Fields are name => JSON value pairs, so numbers stay numbers.
sub respond {
    my ($status, @fields) = @_;
    my @pairs;
    while (my ($name, $json) = splice @fields, 0, 2) {
        push @pairs, json_string($name) . ": $json";
    }
    print "Status: $status\r\n",
          "Content-Type: application/json\r\n",
          "Cache-Control: no-store\r\n",
          "\r\n",
          '{', join(', ', @pairs), "}\n";
    exit 0;
}

sub seconds_left {
    my ($deadline, $step) = @_;
    my $left = $deadline - now();
    die "$step: timeout\n" if $left <= 0;
    return $left;
}

sub incr_counter {
    my ($host, $port, $deadline) = @_;
    my $address = inet_aton($host) or die "cannot resolve $host\n";
    my $redis = IO::Socket::INET->new(
        PeerAddr => inet_ntoa($address),
        PeerPort => $port,
        Proto    => 'tcp',
        # Makes IO::Socket connect non-blocking and wait in select() for at most this long.
        Timeout  => seconds_left($deadline, 'connect'),
    ) or die(($@ =~ s/^IO::Socket::INET: //r) . "\n");

    # A few dozen bytes into a fresh socket's empty send buffer: this write cannot block.
    my $command = "*2\r\n\$4\r\nINCR\r\n\$" . length($COUNTER_KEY) . "\r\n$COUNTER_KEY\r\n";
    defined $redis->syswrite($command) or die "write: $!\n";

    my $reply = '';
    my $readable = IO::Select->new($redis);
    until ($reply =~ /\r\n/) {
        $readable->can_read(seconds_left($deadline, 'read')) or die "read: timeout\n";
        my $received = $redis->sysread($reply, 512, length $reply);
        die "read: $!\n" unless defined $received;
        die "read: connection closed\n" unless $received;
    }
    return $1 if $reply =~ /^:(\d+)\r\n/;
    die 'unexpected reply: ' . ($reply =~ s/\r\n.*//sr) . "\n";
}

# In Kubernetes the hostname is the pod name, which is what the experiments need to see.
my $pod = json_string((POSIX::uname())[1]);
my %required = (REDIS_HOST => qr/^\S+$/, REDIS_PORT => qr/^\d+$/, REDIS_TIMEOUT_MS => qr/^[1-9]\d*$/);
for my $name (sort keys %required) {
    respond('500 Internal Server Error', error => json_string("$name is unset or malformed"), pod => $pod)
        unless ($ENV{$name} // '') =~ $required{$name};
}
my ($host, $port, $timeout_ms) = @ENV{qw(REDIS_HOST REDIS_PORT REDIS_TIMEOUT_MS)};

my $count = eval { incr_counter($host, $port, now() + $timeout_ms / 1000) };
respond('200 OK', count => $count, pod => $pod) if defined $count;

chomp(my $reason = $@);
respond('503 Service Unavailable',
    error       => json_string("redis $host:$port: $reason"),
    deadline_ms => $timeout_ms,
    pod         => $pod);
