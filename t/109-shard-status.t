# The status section "shard": after a known set of requests to a hash,
# a range and a list map (reads, writes, upstream 500s, a dead
# upstream's 502, refusals for an empty key, a range key that is no
# value and a list value of no shard), every field of the JSON and the
# Prometheus samples hold the counts; a reload of the same
# configuration keeps the table in force (not published again) and the
# counts; one that changes a map publishes that map's table only; one
# that resizes the zone starts afresh.
#
# Ports: nginx on 8475, its backends on 8476-8478; nothing on 8479.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Astro::Instance qw(wait_until);
use Astro::ShardSlots qw(near);

my ($FRONT, $BACKEND, $DEAD) = (8475, 8476, 8479);
my %key = Astro::ShardSlots::keys_by_slot(16);

my $http = Astro::ShardSlots::backends($BACKEND, qw(b0 b1 b3)) . <<"_EOC_";
    upstream dead { server 127.0.0.1:$DEAD; }
_EOC_

$http .= <<'_EOC_';
    astro_shard_zone shard109:1m;

    astro_shard_map users strategy=hash hash=seed slots=16 fill=modulo;
    astro_shard users s0 b0;
    astro_shard users s1 b1;
    astro_shard users s2 dead;
    astro_shard users s3 b3;

    astro_shard_map dates strategy=range;
    astro_shard dates old b0 to=2024-01-01;
    astro_shard dates new b1 from=2024-01-01;

    astro_shard_map types strategy=list;
    astro_shard types img b0 values=image/png,image/gif;
    astro_shard types txt b1 values=text/plain;

    server {
        listen 127.0.0.1:$PORT;

        location /u {
            astro_shard_key users $arg_uid;
            add_header X-Version $astro_shard_version always;
            proxy_pass http://$astro_shard_upstream;
        }

        location /d {
            astro_shard_key dates $arg_day;
            proxy_pass http://$astro_shard_upstream;
        }

        location /t {
            astro_shard_key types $arg_type;
            proxy_pass http://$astro_shard_upstream;
        }

        location /astro/status {
            astro_status;
        }
    }
_EOC_

my $ngx = Astro::Instance->new(name => 'shard-status', port => $FRONT,
                               http => $http);
ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

# [path, method, status, X-Backend] in order

my @mix = (
    (["/u?uid=$key{0}", 'GET', 200, 'b0']) x 5,
    (["/u?uid=$key{1}", 'POST', 200, 'b1']) x 3,
    (["/u/fail?uid=$key{3}", 'GET', 500, 'b3']) x 2,
    ["/u?uid=$key{2}", 'GET', 502, undef],
    (['/u', 'GET', 400, undef]) x 2,
    ['/d?day=2023-05-01', 'GET', 200, 'b0'],
    (['/d?day=2024-02-01', 'GET', 200, 'b1']) x 2,
    ['/d?day=abc', 'GET', 400, undef],
    ['/t?type=image/png', 'GET', 200, 'b0'],
    ['/t?type=text/plain', 'GET', 200, 'b1'],
    ['/t?type=video/mp4', 'GET', 400, undef],
);

my $version;

for my $m (@mix) {
    my ($path, $method, $status, $backend) = @$m;
    my $res = $ngx->get($path, method => $method);
    is("$res->{status} " . ($res->{headers}{'x-backend'} // '-'),
       "$status " . ($backend // '-'), "$method $path");
    $version //= $res->{headers}{'x-version'};
}

like($version, qr/^\d+$/, 'the version of the users map in X-Version');

my $all = wait_until(sub {
    my $st = $ngx->status;
    return $st && $st->{modules}{shard}{maps}{users}{recent} == 11
           && $st->{modules}{shard}{maps}{types}{recent} == 2 ? $st : undef;
}, 5, 0.1);

ok($all, 'the recent counts reach the zone') or BAIL_OUT('no counts');

my $st = $all->{modules}{shard};

is_deeply([sort keys %$st],
          [qw(enforcing hot_min hot_ratio maps size window zone)],
          'the section\'s fields');
ok($st->{enforcing}, 'enforcing');
is($st->{zone}, 'shard109', 'zone');
is($st->{size}, 1048576, 'size');
is($st->{hot_min}, 50, 'hot_min');

# users

my $u = $st->{maps}{users};

is_deeply([sort keys %$u],
          [sort qw(strategy hash slots postgres version source published age
                   stale error error_time checked listening refreshes
                   refused failures notifies connects rejects recent shards
                   hot_slots imbalance plan)],
          'users: the fields of a hash map');

is($u->{strategy}, 'hash', 'users: strategy');
is($u->{hash}, 'seed', 'users: hash');
is($u->{slots}, 16, 'users: slots');
ok(!$u->{postgres}, 'users: no postgres');
is($u->{version}, $version, 'users: version as $astro_shard_version');
is($u->{source}, 'conf', 'users: source conf');
ok($u->{published} > time - 60 && $u->{published} <= time,
   'users: published now');
ok($u->{age} >= 0 && $u->{age} < 60, 'users: age');
ok(!$u->{stale}, 'users: not stale');
is($u->{error}, undef, 'users: no error');
is($u->{error_time}, undef, 'users: no error time');
is($u->{checked}, undef, 'users: never read from postgres');
ok(!$u->{listening}, 'users: not listening');
is_deeply([@$u{qw(refreshes refused failures notifies connects)}],
          [0, 0, 0, 0, 0], 'users: no postgres counts');
is_deeply($u->{rejects},
          {empty => 2, no_shard => 0, bad_key => 0, frozen => 0,
           no_map => 0}, 'users: refused for an empty key, twice');
is($u->{recent}, 11, 'users: 11 recent');

my %want = (
    s0 => [b0 => 5, 5, 0, 0],
    s1 => [b1 => 3, 0, 3, 0],
    s2 => [dead => 1, 1, 0, 1],
    s3 => [b3 => 2, 2, 0, 2],
);

is_deeply([sort keys %{ $u->{shards} }], [qw(s0 s1 s2 s3)],
          'users: four shards');

for my $s (sort keys %want) {
    my $sh = $u->{shards}{$s};
    my ($up, $req, $rd, $wr, $err) = @{ $want{$s} };

    is_deeply([sort keys %$sh],
              [sort qw(upstream requests reads writes errors recent
                       slot_share request_share hot_ratio hot)],
              "users $s: fields");
    is_deeply([@$sh{qw(upstream requests reads writes errors recent)}],
              [$up, $req, $rd, $wr, $err, $req],
              "users $s: $up, $req requests, $rd reads, $wr writes, "
              . "$err errors");
    near($sh->{slot_share}, 0.25, "users $s: slot share");
    near($sh->{request_share}, $req / 11, "users $s: request share");
    near($sh->{hot_ratio}, $req / 11 / 0.25, "users $s: hot ratio");
    ok(!$sh->{hot}, "users $s: not hot (11 requests: fewer than 50)");
}

is_deeply([map { "$_->{slot} $_->{shard} $_->{requests}" }
           @{ $u->{hot_slots} }],
          ['0 s0 5', '1 s1 3', '3 s3 2', '2 s2 1'], 'users: hot slots');
near($u->{imbalance}, 5 / 2.75, 'users: imbalance');
is_deeply($u->{plan}{moves}, [], 'users: no plan without a hot shard');

# dates and types: entry shares, no slots

my $d = $st->{maps}{dates};

is($d->{strategy}, 'range', 'dates: strategy');
ok(!exists $d->{hot_slots} && !exists $d->{slots},
   'dates: no slots, no hot slots');
is_deeply($d->{rejects},
          {empty => 0, no_shard => 0, bad_key => 1, frozen => 0,
           no_map => 0}, 'dates: refused for a key that is no value');
is_deeply([map { "$_ $d->{shards}{$_}{requests} $d->{shards}{$_}{recent}" }
           sort keys %{ $d->{shards} }],
          ['new 2 2', 'old 1 1'], 'dates: requests by shard');
near($d->{shards}{old}{entry_share}, 0.5, 'dates old: entry share');
near($d->{shards}{new}{hot_ratio}, (2 / 3) / 0.5, 'dates new: hot ratio');

my $t = $st->{maps}{types};

is($t->{strategy}, 'list', 'types: strategy');
is_deeply($t->{rejects},
          {empty => 0, no_shard => 1, bad_key => 0, frozen => 0,
           no_map => 0}, 'types: refused for a value of no shard');
near($t->{shards}{img}{entry_share}, 2 / 3, 'types img: entry share');
near($t->{shards}{txt}{entry_share}, 1 / 3, 'types txt: entry share');
is($t->{shards}{img}{requests}, 1, 'types img: 1 request');

# Prometheus

my $res = $ngx->get('/astro/status?format=prometheus');
is($res->{status}, 200, 'prometheus 200');

my @lines = split /\n/, $res->{body};
my %line = map { $_ => 1 } @lines;

for my $l (
    '# TYPE astro_shard_requests_total counter',
    '# TYPE astro_shard_rejected_total counter',
    '# TYPE astro_shard_map_version gauge',
    "astro_shard_map_info{map=\"users\",strategy=\"hash\",source=\"conf\"} 1",
    "astro_shard_map_version{map=\"users\"} $version",
    'astro_shard_map_stale{map="users"} 0',
    'astro_shard_map_listening{map="users"} 0',
    'astro_shard_refreshes_total{map="users"} 0',
    'astro_shard_requests_total{map="users",shard="s0"} 5',
    'astro_shard_reads_total{map="users",shard="s0"} 5',
    'astro_shard_writes_total{map="users",shard="s1"} 3',
    'astro_shard_errors_total{map="users",shard="s2"} 1',
    'astro_shard_errors_total{map="users",shard="s3"} 2',
    'astro_shard_errors_total{map="users",shard="s0"} 0',
    'astro_shard_rejected_total{map="users",reason="empty"} 2',
    'astro_shard_rejected_total{map="dates",reason="bad_key"} 1',
    'astro_shard_rejected_total{map="types",reason="no_shard"} 1',
    'astro_shard_rejected_total{map="types",reason="frozen"} 0',
    'astro_shard_slot_share{map="users",shard="s0"} 0.25',
    'astro_shard_entry_share{map="dates",shard="old"} 0.5',
    'astro_shard_recent_requests{map="users",shard="s3"} 2',
    'astro_shard_hot{map="users",shard="s0"} 0',
    'astro_shard_hot_slot_requests{map="users",slot="0",shard="s0"} 5',
    'astro_shard_imbalance{map="users",when="now"} 1.818')
{
    ok($line{$l}, $l);
}

# every sample has its TYPE, once

my (%type, $untyped, $twice);

for (@lines) {
    if (/^# TYPE (\S+) (counter|gauge)$/) {
        $twice++ if $type{$1}++;
    } elsif (/^(astro_shard_\w+)\{/) {
        $untyped++ unless $type{$1};
    }
}

ok(!$untyped, 'every shard sample follows its TYPE');
ok(!$twice, 'no TYPE twice');
ok(!grep({ /^astro_shard_slot_share\{map="(dates|types)"/ } @lines),
   'no slot share for range and list maps');

# a reload of the same configuration: the table stays, not published
# again; the counts stay

ok($ngx->reload, 'reload');

my $again = $ngx->status->{modules}{shard}{maps}{users};
is($again->{published}, $u->{published}, 'users: the same table in force');
is($again->{version}, $version, 'users: the same version');
is($again->{shards}{s0}{requests}, 5, 'users s0: requests kept');
is($again->{rejects}{empty}, 2, 'users: refusals kept');

# a reload with another list map: that one published again, the hash
# map's table (the same) not

(my $http2 = $http) =~ s{(astro_shard types txt b1 values=text/plain;)}
                        {$1\n    astro_shard types vid b3 values=video/mp4;};

ok($ngx->reload($http2), 'reload with a shard more in types');

my $res2 = $ngx->get('/t?type=video/mp4');
is("$res2->{status} " . ($res2->{headers}{'x-backend'} // '-'), '200 b3',
   'types: the new shard routes');

my $st2 = $ngx->status->{modules}{shard}{maps};
is($st2->{users}{published}, $u->{published}, 'users: still not published');
is_deeply([sort keys %{ $st2->{types}{shards} }], [qw(img txt vid)],
          'types: three shards');
is($st2->{types}{shards}{img}{requests}, 1, 'types img: requests kept');

# a zone of another size: a new zone, nothing of the old one reused

(my $http3 = $http2) =~ s/shard109:1m/shard109:2m/;

ok($ngx->reload($http3), 'reload with a larger zone');

my $st3 = $ngx->status->{modules}{shard};
is($st3->{size}, 2097152, 'the zone is 2m');
is($st3->{maps}{users}{source}, 'conf', 'users: the conf table in force');
is($st3->{maps}{users}{shards}{s0}{requests}, 0, 'users s0: counts anew');
is($st3->{maps}{users}{rejects}{empty}, 0, 'users: refusals anew');
is($st3->{maps}{users}{recent}, 0, 'users: nothing recent');

my $res3 = $ngx->get("/u?uid=$key{0}");
is("$res3->{status} " . ($res3->{headers}{'x-backend'} // '-'), '200 b0',
   'users: routes in the new zone');

is_deeply([$ngx->bad_lines], [], 'no crash, no alert in the error log');

done_testing;
