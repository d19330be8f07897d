-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

spec:
- - tinyapp:
    version: '0.3'
    arch:
      platform: linux
      platform_os: debian12
      target:
        name: icelake
        vendor: GenuineIntel
        features:
        - adx
        - aes
        - avx
        - avx2
        - avx512_bitalg
        - avx512_vbmi2
        - avx512_vnni
        - avx512_vpopcntdq
        - avx512bw
        - avx512cd
        - avx512dq
        - avx512f
        - avx512ifma
        - avx512vbmi
        - avx512vl
        - bmi1
        - bmi2
        - clflushopt
        - clwb
        - f16c
        - fma
        - gfni
        - mmx
        - movbe
        - pclmulqdq
        - popcnt
        - rdpid
        - rdrand
        - rdseed
        - sha_ni
        - sse
        - sse2
        - sse4_1
        - sse4_2
        - ssse3
        - umip
        - vaes
        - vpclmulqdq
        - xsavec
        - xsaveopt
        generation: 0
        parents:
        - cascadelake
        - cannonlake
    compiler:
      name: gcc
      version: 12.2.0
    namespace: tinyrepo
    parameters:
      cflags: []
      cppflags: []
      cxxflags: []
      fflags: []
      ldflags: []
      ldlibs: []
    dependencies:
      tinybase:
        hash: oy5qlozs7m6g7luvusunksrymcj2wbb4
        type:
        - build
        - link
      tinyutil:
        hash: e6rf7na67ttjl75dtbkm6lp7lqj3eti7
        type:
        - build
        - link
    hash: tdymrcnrc43dof3ag3rezh7l6wybrkjf
    full_hash: n3suxb6ghhkm2ndztzc75roywtppd2ft
- - tinybase:
    version: '1.0'
    arch:
      platform: linux
      platform_os: debian12
      target:
        name: icelake
        vendor: GenuineIntel
        features:
        - adx
        - aes
        - avx
        - avx2
        - avx512_bitalg
        - avx512_vbmi2
        - avx512_vnni
        - avx512_vpopcntdq
        - avx512bw
        - avx512cd
        - avx512dq
        - avx512f
        - avx512ifma
        - avx512vbmi
        - avx512vl
        - bmi1
        - bmi2
        - clflushopt
        - clwb
        - f16c
        - fma
        - gfni
        - mmx
        - movbe
        - pclmulqdq
        - popcnt
        - rdpid
        - rdrand
        - rdseed
        - sha_ni
        - sse
        - sse2
        - sse4_1
        - sse4_2
        - ssse3
        - umip
        - vaes
        - vpclmulqdq
        - xsavec
        - xsaveopt
        generation: 0
        parents:
        - cascadelake
        - cannonlake
    compiler:
      name: gcc
      version: 12.2.0
    namespace: tinyrepo
    parameters:
      shared: true
      cflags: []
      cppflags: []
      cxxflags: []
      fflags: []
      ldflags: []
      ldlibs: []
    hash: oy5qlozs7m6g7luvusunksrymcj2wbb4
    full_hash: psxb3ntq662hubdzs7flec3cyy6yproe
- - tinyutil:
    version: '2.1'
    arch:
      platform: linux
      platform_os: debian12
      target:
        name: icelake
        vendor: GenuineIntel
        features:
        - adx
        - aes
        - avx
        - avx2
        - avx512_bitalg
        - avx512_vbmi2
        - avx512_vnni
        - avx512_vpopcntdq
        - avx512bw
        - avx512cd
        - avx512dq
        - avx512f
        - avx512ifma
        - avx512vbmi
        - avx512vl
        - bmi1
        - bmi2
        - clflushopt
        - clwb
        - f16c
        - fma
        - gfni
        - mmx
        - movbe
        - pclmulqdq
        - popcnt
        - rdpid
        - rdrand
        - rdseed
        - sha_ni
        - sse
        - sse2
        - sse4_1
        - sse4_2
        - ssse3
        - umip
        - vaes
        - vpclmulqdq
        - xsavec
        - xsaveopt
        generation: 0
        parents:
        - cascadelake
        - cannonlake
    compiler:
      name: gcc
      version: 12.2.0
    namespace: tinyrepo
    parameters:
      debug: false
      cflags: []
      cppflags: []
      cxxflags: []
      fflags: []
      ldflags: []
      ldlibs: []
    dependencies:
      tinybase:
        hash: oy5qlozs7m6g7luvusunksrymcj2wbb4
        type:
        - build
        - link
    hash: e6rf7na67ttjl75dtbkm6lp7lqj3eti7
    full_hash: hvbnzvxcxmyi5vsxvdp7arop7xcg2h4k
-----BEGIN PGP SIGNATURE-----

iQEzBAEBCgAdFiEElj2Zc7X/KfmUJds/+R659ZMP4ZwFAmsRFJEACgkQ+R659ZMP
4ZxGOggAq5K0SXLKaimdGm6usGHdPqnjQgE8xaf4QLBfbFwR+gWaOjqovx85IXsA
NziWByIDH7BE/13WlQz5iDOhaFpxVFVFzcD5lR1Cfw0zYmIfEH9A+s9R+tmErlOb
e4lTMcbPGBN1sKrqPf68oW+IB1OpF+2Dz2qzyrhRrhKjM1BJh1NzFt6e4nw39+ao
hYsbfEF6VtqmTQFh4WnGoHkT6fV2T4UG3+G4OUFS6NMZQe3b7hCz74YUHLvGqOuI
zkLXpUd98IFi2Ppv7Ev+I9wBkVI75evQQyPL1l27RLcAJPg1nl4d9Ad5bNwtFNs9
O1+hNzaR257nVxeUhrL33wV3vQFJQg==
=s+Rt
-----END PGP SIGNATURE-----
