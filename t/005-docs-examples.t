# Every ```nginx block of README.md and docs/*.md, and demo/nginx.conf.in,
# goes through `nginx -t` with the module loaded: one test per block,
# named by its file and line.
#
# A block is a whole nginx.conf when it has an `events` block; its
# load_module lines for ngx_astro_module.so are replaced by the modules of
# TEST_NGINX_LOAD_MODULES.  Any other block is a fragment, and says where
# it goes in its first lines:
#
#     # context: http | server | location | upstream
#     # needs: upstream backend; astro_ratelimit_zone zone=api:1m ...
#     # needs: file jwt.key
#
# A fragment that starts with `location` goes in a server, one that
# starts with `server`, `upstream`, `map` or `log_format` in http, without
# saying so.  `# needs:` lists, separated by semicolons, what the block
# refers to and does not declare: `file PATH`, a key file of 64 hex
# characters (what `openssl rand -hex 32` writes), made in the prefix;
# in a fragment, `upstream NAME`, an upstream block with one server, and
# any other directive, put at the http level before it.  The wrapper is
#
#     load_module ...;  events {}  http { temp paths; needs;
#         fragment, or server { listen; fragment },
#         or server { listen; location / { fragment } },
#         or upstream backend { fragment } }
#
# Everything happens in a temporary prefix: /etc/nginx/ becomes the
# prefix, /var/log/nginx/, /var/cache/nginx/ and /var/lib/nginx/
# directories in it, and every port a `listen` names (`nginx -t` binds
# them) a free port on 127.0.0.1.  `nginx -t` does not connect to Redis or
# PostgreSQL, but it resolves host names: an example names addresses.  A
# block that is not configuration (output, shell) uses another fence
# language.

use strict;
use warnings;

use Test::More;
use File::Temp ();
use File::Path ();
use File::Spec ();
use FindBin ();
use IO::Socket::INET ();

my $root = File::Spec->rel2abs("$FindBin::Bin/..");

my $nginx = $ENV{TEST_NGINX_REAL_BINARY} || $ENV{TEST_NGINX_BINARY}
            || '/usr/sbin/nginx';
my $modules = defined $ENV{TEST_NGINX_LOAD_MODULES}
              ? $ENV{TEST_NGINX_LOAD_MODULES}
              : "$root/build/ngx_astro_module.so";
my @load = map { "load_module $_;\n" } split ' ', $modules;

my @blocks;

for my $file ('README.md', sort glob("$root/docs/*.md")) {
    my $rel = File::Spec->abs2rel(File::Spec->rel2abs($file, $root), $root);
    push @blocks, extract("$root/$rel", $rel);
}

push @blocks, demo();

plan tests => scalar @blocks;

for my $b (@blocks) {
    check($b);
}


# The ```nginx blocks of a Markdown file, with the line of their fence.

sub extract {
    my ($path, $name) = @_;

    open my $fh, '<', $path or die "$path: $!";

    my (@found, $cur, $indent);

    while (my $line = <$fh>) {
        if (!$cur) {
            if ($line =~ /^(\s*)```nginx\s*$/) {
                $cur = { name => "$name:$.", text => '' };
                $indent = length $1;
            }
            next;
        }

        if ($line =~ /^\s*```\s*$/) {
            push @found, $cur;
            undef $cur;
            next;
        }

        $line =~ s/^ {0,$indent}//;
        $cur->{text} .= $line;
    }

    die "$name: a ```nginx block is not closed\n" if $cur;

    return @found;
}


# demo/nginx.conf.in with the values util/demo.sh fills in.

sub demo {
    my $path = "$root/demo/nginx.conf.in";

    return () unless -f $path;

    open my $fh, '<', $path or die "$path: $!";
    local $/;
    my $text = <$fh>;

    $text =~ s/\@MODULE\@/$root\/build\/ngx_astro_module.so/g;
    $text =~ s/\@PORT\@/8080/g;
    $text =~ s/\@NODE\@/demo-1/g;
    $text =~ s/\@REDIS_PORT\@/6380/g;
    $text =~ s/\@PG_PORT\@/6381/g;
    $text =~ s/\@DEMO\@/\/var\/lib\/nginx\/demo/g;

    return { name => 'demo/nginx.conf.in', text => $text };
}


sub check {
    my ($b) = @_;

    my $dir = File::Temp->newdir('astro-docs-XXXXXX', TMPDIR => 1);
    my $prefix = "$dir";

    my ($conf, $err) = wrap($b->{text}, $prefix);

    if (!defined $conf) {
        fail($b->{name});
        diag("$b->{name}: $err");
        return;
    }

    for my $d (qw(logs cache tmp)) {
        File::Path::make_path("$prefix/$d");
    }

    open my $fh, '>', "$prefix/nginx.conf" or die "$prefix/nginx.conf: $!";
    print $fh $conf;
    close $fh;

    # `nginx -t` creates the pid file too: ours, unless the block sets one

    my @pid = $conf =~ /^\s*pid\s/m ? () : ('-g', "pid $prefix/nginx.pid;");

    my @cmd = ($nginx, '-p', "$prefix/", '-c', "$prefix/nginx.conf",
               '-e', "$prefix/logs/error.log", @pid, '-t');

    my $out = qx{@{[ map { quotemeta } @cmd ]} 2>&1};
    my $rc = $?;

    if ($rc == 0 && $out =~ /test is successful/) {
        pass($b->{name});
        return;
    }

    fail($b->{name});

    my $n = 0;
    my $listing = join '', map { sprintf "%4d  %s\n", ++$n, $_ }
                           split /\n/, $conf;

    diag("$b->{name}: nginx -t failed:\n$out\n$listing");
}


# The block as a whole nginx.conf under $prefix, or undef and why not.

sub wrap {
    my ($text, $prefix) = @_;

    my ($context, @needs);

    # the leading "# context:" and "# needs:" lines

    my @lines = split /^/, $text;

    while (@lines && $lines[0] =~ /^\s*#\s*(context|needs):\s*(.*?)\s*$/) {
        if ($1 eq 'context') {
            $context = $2;

        } else {
            push @needs, split_needs($2);
        }

        shift @lines;
    }

    my $body = join '', @lines;

    if (!defined $context) {
        if ($body =~ /^\s*events\s*\{/m) {
            $context = 'main';

        } elsif ($body =~ /\A(?:\s*#[^\n]*\n)*\s*location\b/) {
            $context = 'server';

        } elsif ($body =~ /\A(?:\s*#[^\n]*\n)*\s*(?:server|upstream|map|log_format)\b/) {
            $context = 'http';

        } else {
            return (undef, 'neither a whole nginx.conf (no "events" block) '
                           . 'nor a fragment with a "# context:" line');
        }
    }

    if ($context !~ /^(?:main|http|server|location|upstream)$/) {
        return (undef, "unknown context \"$context\"");
    }

    my $paths = "    client_body_temp_path $prefix/tmp/body;\n"
                . "    proxy_temp_path $prefix/tmp/proxy;\n"
                . "    fastcgi_temp_path $prefix/tmp/fastcgi;\n"
                . "    uwsgi_temp_path $prefix/tmp/uwsgi;\n"
                . "    scgi_temp_path $prefix/tmp/scgi;\n"
                . "    access_log $prefix/logs/access.log;\n";

    my $http = '';

    for my $need (@needs) {
        if ($need =~ /^upstream\s+(\S+)$/) {
            $http .= "    upstream $1 { server 127.0.0.1:1; }\n";

        } elsif ($need =~ /^file\s+(\S+)$/) {
            key_file(paths($1, $prefix), $prefix);

        } else {
            $http .= "    $need;\n";
        }
    }

    my $conf;

    if ($context eq 'main') {
        return (undef, 'a whole nginx.conf needs only files')
            if $http ne '';

        $conf = $body;
        $conf =~ s/^\s*load_module\s+\S*ngx_astro_module\.so\s*;[^\n]*\n//mg;
        $conf = join('', @load) . $conf;

        # our temp paths and access log first in http, but for those the
        # configuration sets itself

        $paths = join '', grep { /^\s*(\w+)/; $body !~ /^\s*\Q$1\E\s/m }
                          split /^/, $paths;

        $conf =~ s/^(\s*http\s*\{[^\n]*\n)/$1$paths/m
            or return (undef, 'no "http {" line');

    } else {
        my $port = free_port();

        my $inner = $body;
        $inner =~ s/^(?=.)/        /mg;

        if ($context eq 'http') {
            $inner =~ s/^    //mg;

        } elsif ($context eq 'server') {
            $inner = "    server {\n        listen 127.0.0.1:$port;\n\n"
                     . $inner . "    }\n";

        } elsif ($context eq 'location') {
            $inner =~ s/^(?=.)/    /mg;
            $inner = "    server {\n        listen 127.0.0.1:$port;\n\n"
                     . "        location / {\n" . $inner . "        }\n"
                     . "    }\n";

        } else {
            $inner = "    upstream backend {\n" . $inner . "    }\n";
        }

        $conf = join('', @load) . "\nevents {}\n\nhttp {\n" . $paths
                . $http . "\n" . $inner . "}\n";
    }

    $conf = paths($conf, $prefix);
    $conf = listen_ports($conf);

    return ($conf);
}


# "a; b { c; d; }; e" -> "a", "b { c; d; }", "e"

sub split_needs {
    my ($s) = @_;

    my (@items, $cur, $depth);

    $cur = '';
    $depth = 0;

    for my $c (split //, $s) {
        $depth++ if $c eq '{';
        $depth-- if $c eq '}';

        if ($c eq ';' && $depth == 0) {
            push @items, $cur;
            $cur = '';
            next;
        }

        $cur .= $c;
    }

    push @items, $cur;

    return grep { length } map { s/^\s+|\s+$//gr } @items;
}


# Debian's paths moved into the prefix.

sub paths {
    my ($s, $prefix) = @_;

    $s =~ s{/etc/nginx/}{$prefix/}g;
    $s =~ s{/var/log/nginx/}{$prefix/logs/}g;
    $s =~ s{/var/cache/nginx/}{$prefix/cache/}g;
    $s =~ s{/var/lib/nginx/}{$prefix/tmp/}g;

    return $s;
}


# A key as `openssl rand -hex 32 > FILE` writes it; a relative path is
# taken from the configuration's directory, which is the prefix.

sub key_file {
    my ($path, $prefix) = @_;

    $path = "$prefix/$path" unless $path =~ m{^/};

    my ($vol, $d) = File::Spec->splitpath($path);
    File::Path::make_path($d);

    open my $fh, '>', $path or die "$path: $!";
    print $fh join('', map { sprintf '%02x', int rand 256 } 1 .. 32), "\n";
    close $fh;
}


# Every port a "listen" names becomes a free port of 127.0.0.1, the same
# port for the same number.

sub listen_ports {
    my ($conf) = @_;

    my %map;

    $conf =~ s{^(\s*listen\s+)(?:[^\s;:]+:|\[[^\]]*\]:)?(\d+)\b}{
        $1 . '127.0.0.1:' . ($map{$2} //= free_port())
    }mge;

    return $conf;
}


sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "no free port: $!";

    my $port = $s->sockport;
    close $s;

    return $port;
}
