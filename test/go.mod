module bootc-testboot/test

go 1.24
