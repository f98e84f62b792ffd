DROP TABLE order_passphrases;
