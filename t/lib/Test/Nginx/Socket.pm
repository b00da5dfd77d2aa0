package Test::Nginx::Socket;

# In-tree SUBSET of CPAN's Test::Nginx::Socket (openresty/test-nginx 0.29),
# built on Debian's Test::Base because CPAN is unreachable here.  The .t
# files must pass unchanged under this module (prove -I t/lib -r t) and
# under the real one (prove -r t), so the semantics below mirror CPAN's,
# including the number of TAP tests each block produces.
#
# Supported functions:
#   use Test::Nginx::Socket;  use Test::Nginx::Socket 'no_plan';
#   plan, blocks (and the rest of Test::Base / Test::More's exports),
#   run_tests, repeat_each, no_shuffle, no_long_string, no_root_location,
#   log_level, workers, worker_connections, master_on, master_off,
#   env_to_nginx, add_block_preprocessor, add_cleanup_handler, timeout,
#   html_dir, server_root, server_port, server_port_for_client, is_str,
#   bail_out.
#
# Supported block sections:
#   main_config, post_main_config, http_config, config, server_name,
#   log_level, user_files, init, request (string, or eval'ed array of
#   strings sent one after another), more_headers (string or array),
#   error_code, error_code_like, response_body, response_body_like,
#   response_body_unlike, response_headers (incl. "!Name"),
#   response_headers_like, error_log, no_error_log, grep_error_log,
#   grep_error_log_out, wait, timeout, must_die, skip_nginx, and Test::Base's ONLY / SKIP / LAST.
#
# Any other section known to CPAN makes the runner bail out.

use strict;
use warnings;

use Test::Base ();
use Test::More ();
use Test::LongString ();
use HTTP::Response ();
use IO::Socket::INET ();
use IO::Select ();
use POSIX qw(EAGAIN);
use List::Util qw(min);
use Time::HiRes qw(sleep);

use Test::Nginx::Util;

our @ISA = ('Test::Base');

our $VERSION = '0.29_intree';

{
    no warnings 'once';
    *plan = \&Test::More::plan;
}

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests repeat_each worker_connections
    no_long_string workers master_on master_off log_level no_shuffle
    no_root_location html_dir server_root server_port
    server_port_for_client timeout add_block_preprocessor bail_out
    add_cleanup_handler
);

our $TotalConnectingTimeouts = 0;

$RunTestHelper = \&run_test_helper;
$CheckErrorLog = \&check_error_log;

# ---- building requests -----------------------------------------------------

sub parse_more_headers ($) {
    my $in = shift;
    my ($out, $is_chunked) = ('', undef);
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*\#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val = '' if !defined $val;
        $is_chunked = 1
            if lc($key) eq 'transfer-encoding' and $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

sub build_request {
    my ($name, $more_headers, $is_chunked, $request) = @_;

    my ($first, $content) = $request =~ /\A([^\n]*\n?)(.*)\z/s;
    if (!defined $first || $first eq '') {
        bail_out("$name - Request line should be non-empty");
    }
    my ($meth, $url, $ver);
    if ($first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/) {
        ($meth, $url, $ver) = ($1, $2, $3);
    } else {
        bail_out("$name - Request line is not valid. Should be 'meth [url "
                 . "[version]]' but got \"$first\".");
    }
    $url = '/' if !defined $url;
    $ver = 'HTTP/1.1' if !defined $ver;

    my $len_header = '';
    if (!$is_chunked && $content ne ''
        && $more_headers !~ /(?:^|\n)Content-Length:/)
    {
        $content =~ s/^\s+|\s+$//gs;
        $len_header = 'Content-Length: ' . length($content) . "\r\n";
    }

    $more_headers =~ s/(?<!\r)\n/\r\n/gs;

    my $headers = '';
    $headers .= "Host: $ServerName\r\n"
        if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: close\r\n"
        if $more_headers !~ /(?:^|\n)Connection/msi;
    $headers .= "$more_headers$len_header\r\n";

    return "$meth $url $ver\r\n$headers$content";
}

sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;

    my $request = $block->request;
    if (defined $request && !ref $request) {
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
    }
    bail_out("$name - request empty") if !defined $request;

    my $more_headers = $block->more_headers || '';

    my $headers_for = sub {
        my $i = shift;
        if (ref $more_headers eq 'ARRAY') {
            my $hdr = $more_headers->[$i];
            bail_out("--- more_headers lacks data for the ${i}th request")
                if !defined $hdr;
            return parse_more_headers($hdr);
        }
        return parse_more_headers($more_headers);
    };

    if (!ref $request) {
        return [ build_request($name, $headers_for->(0), $request) ];
    }

    if (ref $request ne 'ARRAY') {
        bail_out("$name - invalid ---request : MUST be string or array "
                 . "of requests");
    }

    my @reqs;
    my $i = 0;
    for my $one (@$request) {
        if (ref $one) {
            bail_out("$name - requests split into packets are not supported "
                     . "by the in-tree Test::Nginx subset (t/lib)");
        }
        push @reqs, build_request($name, $headers_for->($i), $one);
        $i++;
    }
    return \@reqs;
}

# ---- sending requests ------------------------------------------------------

sub send_request ($$$$);

sub send_request ($$$$) {
    my ($req, $timeout, $block, $tries) = @_;
    my $name = $block->name;
    my $head_req = $req =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $sock = IO::Socket::INET->new(
        PeerAddr => $ServerAddr,
        PeerPort => $ServerPortForClient,
        Proto    => 'tcp',
        Blocking => 0,
        Timeout  => $timeout,
    );

    if (!defined $sock) {
        $tries ||= 1;
        my $total_tries = $TotalConnectingTimeouts ? 20 : 50;
        if ($tries <= $total_tries) {
            my $wait = (sleep_time() + sleep_time() * $tries) * $tries / 2;
            $wait = 1 if $wait >= 1;
            if ($wait >= 0.6) {
                warn "$name - Can't connect to $ServerAddr:"
                     . "$ServerPortForClient: $!\n";
            }
            sleep $wait;
            return send_request($req, $timeout, $block, $tries + 1);
        }

        my $msg = "$name - Can't connect to $ServerAddr:$ServerPortForClient:"
                  . " $! (aborted)\n";
        if (++$TotalConnectingTimeouts < 3) {
            Test::More->builder->no_ending(1);
            Test::More::fail($msg);
        } else {
            bail_out($msg);
        }
        return (undef, $head_req);
    }

    my $resp = '';
    my $offset = 0;
    my $sel = IO::Select->new($sock);
    my $writing = 1;

    while (1) {
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef,
                                         undef, $timeout);
        if (!$r && !$w) {
            close $sock;
            Test::More->builder->no_ending(1);
            Test::More::fail("ERROR: client socket timed out - $name\n");
            last;
        }

        if ($w && @$w) {
            my $bytes = syswrite($sock, $req, length($req) - $offset, $offset);
            if (!defined $bytes) {
                if ($! != EAGAIN) {
                    my $err = "write failed: $!";
                    warn "$err\n";
                    $resp = $err if !$resp;
                    close $sock;
                    last;
                }
            } else {
                $offset += $bytes;
                $writing = 0 if $offset >= length $req;
            }
        }

        if ($r && @$r) {
            my $buf;
            my $bytes = sysread($sock, $buf, 4096);
            if (!defined $bytes) {
                next if $! == EAGAIN;
                warn "WARNING: $name - HTTP response read failure: $!";
                close $sock;
                last;
            }
            if ($bytes == 0) {
                close $sock;
                last;
            }
            $resp .= $buf;
        }
    }

    return ($resp, $head_req);
}

# ---- parsing responses -----------------------------------------------------

sub parse_response ($$$) {
    my ($name, $raw_resp, $head_req) = @_;

    my $left;
    my $raw_headers = '';
    $raw_headers = $1 if $raw_resp =~ /(.*?\r\n)\r\n/s;

    my $res = HTTP::Response->parse($raw_resp);
    my $code = $res->code;
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if ($code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    if (defined $enc && $enc eq 'chunked') {
        my $raw = $res->content // '';
        my $decoded = '';
        while (1) {
            if ($raw =~ /\G 0 [\ \t]* \r\n \r\n /gcsx) {
                $left = $1 if $raw =~ /\G (.+) /gcsx;
                last;
            }
            if ($raw =~ m{ \G [\ \t]* ( [A-Fa-f0-9]+ ) [\ \t]* \r\n }gcsx) {
                my $size = hex($1);
                if ($raw =~ /\G(.{$size})/gcs) {
                    $decoded .= $1;
                } else {
                    Test::More->builder->no_ending(1);
                    Test::More::fail("$name - invalid chunked data received "
                        . "(not enought octets for the data section)");
                    return;
                }
                if ($raw !~ /\G\r\n/gcs) {
                    Test::More->builder->no_ending(1);
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(expected CRLF).");
                    return;
                }
            } elsif ($raw =~ /\G.+/gcs) {
                Test::More->builder->no_ending(1);
                Test::More::fail("$name - invalid chunked body received: $&");
                return;
            } else {
                Test::More->builder->no_ending(1);
                Test::More::fail("$name - no last chunk found - $raw");
                return;
            }
        }
        $res->content($decoded);

    } elsif (defined $len && $len ne '' && $len >= 0) {
        my $raw = $res->content;
        if (length $raw < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got ", length $raw, "\n" if !$head_req;
        } elsif (length $raw > $len) {
            $left = substr $raw, $len;
            $res->content(substr $raw, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

# ---- checks ----------------------------------------------------------------

sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$req_idx] if ref $value && ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    if (ref $value && ref $value eq 'ARRAY') {
        return $value->[0];
    }
    return $value;
}

sub fmt_str ($) {
    my $str = shift;
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

sub check_error_code ($$$$$) {
    my ($block, $res, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
  SKIP: {
        Test::More::skip("$name - tests skipped due to $dry_run", 1)
            if $dry_run;
        if (defined $block->error_code_like) {
            my $val = get_indexed_value($name, $block->error_code_like,
                                        $req_idx, $need_array);
            Test::More::like($got, qr/$val/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            Test::More::is($got, get_indexed_value($name, $block->error_code,
                                                   $req_idx, $need_array),
                           "$name - status code ok");
        } else {
            Test::More::is($got, 200, "$name - status code ok");
        }
    }
}

sub check_response_headers ($$$$$$) {
    my ($block, $res, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value($name,
            $block->response_headers, $req_idx, $need_array));
        while (my ($key, $val) = each %$headers) {
            if (!defined $val) {
              SKIP: {
                    Test::More::skip("$name - response_headers - tests "
                                     . "skipped due to $dry_run", 1) if $dry_run;
                    Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                        "$name - header $key not present in the raw headers");
                }
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' if !defined $actual;
          SKIP: {
                Test::More::skip("$name - response_headers - tests skipped "
                                 . "due to $dry_run", 1) if $dry_run;
                Test::More::is($actual, $val, "$name - header $key ok");
            }
        }

    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(get_indexed_value($name,
            $block->response_headers_like, $req_idx, $need_array));
        while (my ($key, $val) = each %$headers) {
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' if !defined $actual;
          SKIP: {
                Test::More::skip("$name - response_headers_like - tests "
                                 . "skipped due to $dry_run", 1) if $dry_run;
                Test::More::like($actual, qr/^$val$/,
                                 "$name - header $key like ok");
            }
        }
    }
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;

    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
        $content =~ s/^Connection: TE, close\r\n//gms;
    }

    if (defined $block->response_body) {
        my $expected = get_indexed_value($name, $block->response_body,
                                         $req_idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $desc = "$name - response_body - ";
        my $where = "(repeated req $repeated_req_idx, req $req_idx)";
      SKIP: {
            Test::More::skip("$name - response_body - tests skipped due to "
                             . "$dry_run", 1) if $dry_run;
            if (ref $expected) {
                Test::More::like($content, $expected, "${desc}like $where");
            } elsif ($NoLongString) {
                Test::More::is($content, $expected,
                               "${desc}response is expected $where");
            } else {
                Test::LongString::is_string($content, $expected,
                               "${desc}response is expected $where");
            }
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my ($patterns, $type, $cmp);
        if (defined $block->response_body_like) {
            ($patterns, $type, $cmp) = ($block->response_body_like, 'like',
                                        \&Test::More::like);
        } else {
            ($patterns, $type, $cmp) = ($block->response_body_unlike,
                                        'unlike', \&Test::More::unlike);
        }
        my $pat = get_indexed_value($name, $patterns, $req_idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $summary = trim($content) // '';
      SKIP: {
            Test::More::skip("$name - response_body_$type - tests skipped "
                             . "due to $dry_run", 1) if $dry_run;
            $cmp->($content, qr/$pat/s,
                   "$name - response_body_$type - response is expected "
                   . "($summary)");
        }
    }
}

sub _pattern_list ($) {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [ split /\n+/, $pats ];
    }
    return [ $pats ] if ref $pats eq 'Regexp';
    return [ @$pats ];
}

sub _value_contains ($$);

sub _value_contains ($$) {
    my ($val, $pat) = @_;
    return $val =~ /\Q$pat\E/ if !ref $val || ref $val eq 'Regexp';
    if (ref $val eq 'ARRAY') {
        for my $v (@$val) {
            return 1 if _value_contains($v, $pat);
        }
    }
    return undef;
}

sub _line_matches ($$) {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

sub check_error_log ($$$$$) {
    my ($block, $res, $dry_run, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;
    my %default_check = (alert => 1, crit => 1, emerg => 1);

    for my $sec (qw(error_log no_error_log)) {
        my $pats = $block->$sec;
        next if !defined $pats;
        for my $level (keys %default_check) {
            delete $default_check{$level}
                if _value_contains($pats, "[$level");
        }
    }

    # As CPAN: the matches of grep_error_log, one a line, compared with
    # grep_error_log_out (a string, or a regex with eval).
    my $grep_pat = $block->grep_error_log;
    if (defined $grep_pat) {
        $grep_pat = $grep_pat->[$repeated_req_idx]
            if ref $grep_pat eq 'ARRAY';

        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but "
                 . "--- grep_error_log is defined")
            if !defined $expected;
        $expected = $expected->[$repeated_req_idx]
            if ref $expected eq 'ARRAY';

      SKIP: {
            Test::More::skip("$name - error_log - tests skipped due to "
                             . "$dry_run", 1) if $dry_run;
            $lines ||= error_log_data();
            my $matched_lines = '';
            for my $line (@$lines) {
                if (ref $grep_pat && $line =~ /$grep_pat/
                    || $line =~ /\Q$grep_pat\E/)
                {
                    my $matched = $&;
                    $matched_lines .= $matched . "\n"
                        if $matched !~ /\n/;
                }
            }

            if (ref $expected eq 'Regexp') {
                Test::More::like($matched_lines, $expected,
                    "$name - grep_error_log_out (req $repeated_req_idx)");
            } else {
                Test::More::is($matched_lines, $expected,
                    "$name - grep_error_log_out (req $repeated_req_idx)");
            }
        }
    }

    if (defined $block->error_log) {
        my $pats = _pattern_list($block->error_log);
        $lines ||= error_log_data();
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next if !defined $pat;
                if (_line_matches($line, $pat)) {
                  SKIP: {
                        Test::More::skip("$name - error_log - tests skipped "
                                         . "due to $dry_run", 1) if $dry_run;
                        Test::More::pass("$name - pattern \"$pat\" matches a "
                            . "line in error.log (req $repeated_req_idx)");
                    }
                    undef $pat;
                }
            }
        }
        for my $pat (@$pats) {
            next if !defined $pat;
          SKIP: {
                Test::More::skip("$name - error_log - tests skipped due to "
                                 . "$dry_run", 1) if $dry_run;
                Test::More::fail("$name - pattern \"$pat\" should match a "
                    . "line in error.log (req $repeated_req_idx)");
            }
        }
    }

    if (defined $block->no_error_log) {
        my $pats = _pattern_list($block->no_error_log);
        my %found;
        $lines ||= error_log_data();
        my $i = 0;
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next if !defined $pat;
                next if !_line_matches($line, $pat);
                if ($found{$pat}) {
                    Test::More->builder->no_ending(1);
                } else {
                    $found{$pat} = 1;
                }
              SKIP: {
                    Test::More::skip("$name - no_error_log - tests skipped "
                                     . "due to $dry_run ($line)", 1) if $dry_run;
                    my $ln = fmt_str($line);
                    my $p = fmt_str($pat);
                    my @more;
                    for (my $j = $i + 1; $j < min($i + 10, @$lines - 1); $j++) {
                        push @more, $lines->[$j];
                    }
                    Test::More::fail("$name - pattern \"$p\" should not match "
                        . "any line in error.log but matches line \"$ln\" "
                        . "(req $repeated_req_idx)\n" . join '', @more);
                }
            }
        } continue {
            $i++;
        }
        for my $pat (@$pats) {
            next if !defined $pat || $found{$pat};
          SKIP: {
                Test::More::skip("$name - no_error_log - tests skipped due to "
                                 . "$dry_run", 1) if $dry_run;
                my $p = fmt_str($pat);
                Test::More::pass("$name - pattern \"$p\" does not match a "
                    . "line in error.log (req $repeated_req_idx)");
            }
        }
    }

    # Like CPAN: [alert], [crit] and [emerg] lines only produce warnings
    # on stderr, they never add or fail a TAP test.
    if (!$dry_run) {
        for my $level (qw(alert crit emerg)) {
            next if !$default_check{$level};
            $lines ||= error_log_data();
            for my $line (@$lines) {
                if ($line =~ /\[$level\]/) {
                    my $ln = fmt_str($line);
                    warn "WARNING: $name - $ln\n";
                }
            }
        }
    }

    # ... but an assertion failure logged by nginx is a failed test.
    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            Test::More->builder->no_ending(1);
            chomp(my $l = $line);
            Test::More::fail("$name - $l\n");
        }
    }
}

# ---- per-block driver ------------------------------------------------------

sub run_test_helper ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") if !@$reqs;

    my $timeout = parse_time($block->timeout);
    $timeout = timeout() if !defined $timeout;

    my $need_array = @$reqs > 1;
    my $res;

    for my $req_idx (0 .. $#$reqs) {
        my ($raw_resp, $head_req);
        if ($dry_run) {
            $raw_resp = "200 OK HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
        } else {
            ($raw_resp, $head_req) = send_request($reqs->[$req_idx],
                                                  $timeout, $block, undef);
        }
        $raw_resp = '' if !defined $raw_resp;

        my ($raw_headers, $left);
        ($res, $raw_headers, $left) = parse_response($name, $raw_resp,
                                                     $head_req);
        if ($left) {
            $left =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
            warn "WARNING: $name - unexpected extra bytes after last chunk "
                 . "in response: \"$left\"\n";
        }

        check_error_code($block, $res, $dry_run, $req_idx, $need_array);
        check_response_headers($block, $res, $raw_headers, $dry_run,
                               $req_idx, $need_array);
        check_response_body($block, $res, $dry_run, $req_idx,
                            $repeated_req_idx, $need_array);

        # CPAN checks the error log after every request but the last one
        # too, so error_log patterns are tested once per request.
        if ($req_idx < $#$reqs) {
            sleep($block->wait) if $block->wait;
            check_error_log($block, $res, $dry_run, $repeated_req_idx,
                            $need_array);
        }
    }

    sleep($block->wait) if $block->wait;
    check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
}

1;
