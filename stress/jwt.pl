#!/usr/bin/perl
# stress/jwt.pl: HS256 tokens for astro_tier_jwt, valid for an hour.
#
#   jwt.pl KEYFILE users N      N tokens, one a line: subjects u1..uN,
#                               every 10th premium, 3 in 10 basic, the
#                               rest free
#   jwt.pl KEYFILE one SUB TIER one token
#
# Core Perl only (Digest::SHA, MIME::Base64), as the tests have.

use strict;
use warnings;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64);

my ($keyfile, $mode, @args) = @ARGV;
die "usage: $0 KEYFILE users N | one SUB TIER\n"
    unless defined $mode && ($mode eq 'users' || $mode eq 'one');

open my $fh, '<', $keyfile or die "$keyfile: $!\n";
my $key = do { local $/; <$fh> };
close $fh;
$key =~ s/\r?\n\z//;

my $exp = time + 3600;

sub b64url {
    my $s = encode_base64($_[0], '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+\z//;
    return $s;
}

sub token {
    my ($sub, $tier) = @_;
    my $h = b64url('{"alg":"HS256","typ":"JWT"}');
    my $p = b64url(qq({"sub":"$sub","tier":"$tier","exp":$exp}));
    return "$h.$p." . b64url(hmac_sha256("$h.$p", $key));
}

if ($mode eq 'one') {
    print token($args[0], $args[1]), "\n";
    exit 0;
}

for my $i (1 .. $args[0]) {
    my $d = $i % 10;
    print token("u$i", $d == 0 ? 'premium' : $d <= 3 ? 'basic' : 'free'),
        "\n";
}
